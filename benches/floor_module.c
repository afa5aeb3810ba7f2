/* The floor of a module command, for the benchmarks only (never loaded in
 * production): what any module pays on Redis's module API for a keyed read
 * before it does any work of its own. Its commands have the shape and the
 * name lengths of hanoi's:
 *
 *   FLOOR.ENABLED key id       opens the key, replies 1 if it exists, else 0
 *   FLOOR.MENABLED id key ...  the same for each key, as an array
 *
 * benches/callgrind_server.py and benches/ratios.py build it with the C
 * compiler against the redismodule.h that the redis-module crate ships, and
 * load it beside libhanoi.so: HANOI.ENABLED / FLOOR.ENABLED is hanoi's own
 * cost, FLOOR.ENABLED / GET the module API's. */
#include "redismodule.h"

static int exists(RedisModuleCtx *ctx, RedisModuleString *name) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, name, REDISMODULE_READ);
    int on = RedisModule_KeyType(key) != REDISMODULE_KEYTYPE_EMPTY;
    RedisModule_CloseKey(key);
    return on;
}

static int enabled(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3) return RedisModule_WrongArity(ctx);
    return RedisModule_ReplyWithLongLong(ctx, exists(ctx, argv[1]));
}

static int menabled(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3) return RedisModule_WrongArity(ctx);
    RedisModule_ReplyWithArray(ctx, argc - 2);
    for (int i = 2; i < argc; i++) RedisModule_ReplyWithLongLong(ctx, exists(ctx, argv[i]));
    return REDISMODULE_OK;
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv;
    (void)argc;
    if (RedisModule_Init(ctx, "floor", 1, REDISMODULE_APIVER_1) == REDISMODULE_ERR) return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "floor.enabled", enabled, "readonly fast", 1, 1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    if (RedisModule_CreateCommand(ctx, "floor.menabled", menabled, "readonly fast", 2, -1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
