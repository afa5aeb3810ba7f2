//! CRC-32 (IEEE, zlib's), the bucket hash: `zlib.crc32(salt + id)`.
//!
//! Ids are short (a dozen bytes). crc32fast is built for long input: for
//! a short one its CPU-feature check and per-call setup cost as much as the
//! sum itself. Here short input goes through a slice-by-8 table walk (8
//! bytes a step, the tail a byte at a time); input of [`LONG`] bytes or more
//! through crc32fast (its SIMD path).

/// From this many bytes on, crc32fast.
const LONG: usize = 64;

/// Slice-by-8 tables of the reflected polynomial 0xEDB88320, built at
/// compile time.
static TABLES: [[u32; 256]; 8] = tables();

const fn tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut i = 0;
    while i < 256 {
        let mut j = 1;
        while j < 8 {
            let prev = t[j - 1][i];
            t[j][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            j += 1;
        }
        i += 1;
    }
    t
}

#[inline]
fn at(table: &[u32; 256], x: u32) -> u32 {
    table[(x & 0xff) as usize]
}

/// Continues `crc` (a finished CRC-32, 0 to start) over `data`.
#[inline]
fn update(crc: u32, data: &[u8]) -> u32 {
    let t = &TABLES;
    let mut c = !crc;
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let lo = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) ^ c;
        let hi = u32::from_le_bytes([w[4], w[5], w[6], w[7]]);
        c = at(&t[7], lo)
            ^ at(&t[6], lo >> 8)
            ^ at(&t[5], lo >> 16)
            ^ at(&t[4], lo >> 24)
            ^ at(&t[3], hi)
            ^ at(&t[2], hi >> 8)
            ^ at(&t[1], hi >> 16)
            ^ at(&t[0], hi >> 24);
    }
    for &b in words.remainder() {
        c = at(&t[0], c ^ u32::from(b)) ^ (c >> 8);
    }
    !c
}

/// Python 3's `zlib.crc32(salt + id)`, unsigned.
#[inline]
pub fn crc32(salt: Option<&[u8]>, id: &[u8]) -> u32 {
    let salt = salt.unwrap_or(&[]);
    if salt.len() + id.len() < LONG {
        return update(update(0, salt), id);
    }
    let mut h = crc32fast::Hasher::new();
    h.update(salt);
    h.update(id);
    h.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(salt: &[u8], id: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(salt);
        h.update(id);
        h.finalize()
    }

    #[test]
    fn matches_crc32fast_at_every_length_and_split() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let data: Vec<u8> = (0..300)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in 0..data.len() {
            for cut in [0, 1, 3, 7, 8, 9, len / 2, len] {
                let cut = cut.min(len);
                let (salt, id) = data[..len].split_at(cut);
                let want = reference(salt, id);
                assert_eq!(crc32(Some(salt), id), want, "len {len} cut {cut}");
                if cut == 0 {
                    assert_eq!(crc32(None, id), want);
                }
            }
        }
    }

    #[test]
    fn known_values() {
        // zlib.crc32(b"123456789") and of the empty string.
        assert_eq!(crc32(None, b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(None, b""), 0);
        assert_eq!(crc32(Some(b"salt"), b""), reference(b"salt", b""));
    }
}
