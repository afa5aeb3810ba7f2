"""Regenerates python_crc32.tsv (run once with Python 3; the table is committed)."""
import zlib

ids = ['44488', '443301', '444401', '447568110000', '', '0', '1', '42', 'user-1', 'user-2',
       'alice', 'bob@example.com', '123456789012', '999999', '000001', 'a' * 100, 'café',
       'Zürich', '東京', '😀', 'ñandú', 'Ωmega', '\u0000nul', 'tab\tid', 'naïve-123', 'Δ', '00',
       'abc01', 'x01', '998877665544']
ids += [str(n) for n in range(100000, 100050, 7)]
rows = [s.encode('utf-8') for s in ids] + [b'\xff\xfe\x00', b'\x80', b'\xc3\x28']
with open('python_crc32.tsv', 'w') as f:
    f.write('# id_hex\tcrc32\tcrc32%100\tvariant_index_2\tvariant_index_3\tsalted_bucket(salt=b"s1")\n')
    f.write("# generated once with Python 3: zlib.crc32(id) (unsigned), hanoi's variants[crc32(id) % n]\n")
    for b in rows:
        c = zlib.crc32(b)
        f.write(f"{b.hex()}\t{c}\t{c % 100}\t{c % 2}\t{c % 3}\t{zlib.crc32(b's1' + b) % 100}\n")
