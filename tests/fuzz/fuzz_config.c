/* Fuzz target: configuration (common/config.c cfg_parse) from argv and the
 * environment.
 *
 * The input is a list of NUL-separated words. A word "SSE_NAME=value" is put
 * in the environment; every other word is an argument (after argv[0]).
 * Environment values set here are removed again after each input, and the
 * SSE_* variables of the fuzzer's own environment are removed at start, so
 * inputs do not leak into each other.
 *
 * --auth-secret-file (flag or SSE_AUTH_SECRET_FILE) reads a file: its value
 * is replaced by one of a few files made at start (a good key, an empty
 * file, an overlong one, one with NULs and CRLF, a missing path), chosen by
 * the value's length, so no input can make the fuzzer read (or block on)
 * /dev/stdin or another real path.
 *
 * Properties: cfg_parse returns one of its three results; an error is one
 * non-empty line; a parsed config holds values inside their documented
 * ranges with NUL-terminated strings, and --cors-origins holds only
 * printable ASCII (it is echoed into response headers); cfg_free releases
 * everything (LSan). */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fuzz.h"

#define FUZZ_ARGS_MAX 64
#define FUZZ_ENVS_MAX 16

extern char **environ;

static FILE *devnull; /* --help and --version print here */

#define SECRET_FILES 5
static char secret_path[SECRET_FILES][64]; /* what secret-file values become */

/* A file with the given bytes that is already unlinked (nothing is left
 * behind however the fuzzer exits): reachable as /proc/self/fd/N while the
 * descriptor stays open. */
static void make_file(int i, const char *bytes, size_t len)
{
    char tmpl[] = "/tmp/fuzz-config-secret-XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0 || unlink(tmpl) != 0 || write(fd, bytes, len) != (ssize_t)len)
        abort();
    snprintf(secret_path[i], sizeof(secret_path[i]), "/proc/self/fd/%d", fd);
}

static void make_secret_files(void)
{
    static char longkey[CFG_SECRET_MAX + 10];
    make_file(0, "0123456789abcdef0123456789abcdef-key\n", 37);
    make_file(1, "", 0);
    memset(longkey, 'k', sizeof(longkey));
    make_file(2, longkey, sizeof(longkey));
    make_file(3, "0123456789abcdef\0\0\0\001456789abcdef0123\r\n", 38);
    snprintf(secret_path[4], sizeof(secret_path[4]), "/nonexistent/fuzz-config-secret");
}

static const char *secret_for(const char *value)
{
    return secret_path[strlen(value) % SECRET_FILES];
}

/* Words rewritten for --auth-secret-file live here during one input. */
static char rewritten[FUZZ_ENVS_MAX + 1][96];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    devnull = fopen("/dev/null", "w");
    if (devnull == NULL)
        abort();
    make_secret_files();
    /* Removing shifts environ, so start again after each removal. */
    for (int again = 1; again;) {
        again = 0;
        for (char **e = environ; *e != NULL; e++) {
            if (strncmp(*e, "SSE_", 4) == 0) {
                char name[256];
                size_t n = strcspn(*e, "=");
                if (n >= sizeof(name))
                    abort();
                memcpy(name, *e, n);
                name[n] = '\0';
                unsetenv(name);
                again = 1;
                break;
            }
        }
    }
    return 0;
}

static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One copy of the input with a NUL after it: every word is a C string. */
    char *buf = malloc(size + 1);
    FUZZ_CHECK(buf != NULL);
    memcpy(buf, data, size);
    buf[size] = '\0';

    char *args[FUZZ_ARGS_MAX + 2];
    char names[FUZZ_ENVS_MAX][64]; /* variables put in the environment */
    int argc = 0, nenv = 0;
    args[argc++] = "sse-bridge";
    for (size_t i = 0; i <= size && argc <= FUZZ_ARGS_MAX;) {
        char *w = buf + i;
        size_t n = strlen(w);
        size_t eq = strcspn(w, "=");
        if (strncmp(w, "SSE_", 4) == 0 && w[eq] == '=' && eq < sizeof(names[0])) {
            if (nenv < FUZZ_ENVS_MAX) {
                /* putenv keeps the pointer, so no copy leaks per input. */
                memcpy(names[nenv], w, eq);
                names[nenv][eq] = '\0';
                if (strcmp(names[nenv], "SSE_AUTH_SECRET_FILE") == 0) {
                    snprintf(rewritten[nenv], sizeof(rewritten[nenv]), "%s=%s", names[nenv],
                             secret_for(w + eq + 1));
                    w = rewritten[nenv];
                }
                if (putenv(w) != 0)
                    abort();
                nenv++;
            }
        } else {
            args[argc++] = w;
        }
        i += n + 1;
    }
    args[argc] = NULL;
    for (int i = 1; i < argc; i++) {
        if (strncmp(args[i], "--auth-secret-file", 18) != 0)
            continue;
        if (args[i][18] == '=') {
            snprintf(rewritten[FUZZ_ENVS_MAX], sizeof(rewritten[0]), "--auth-secret-file=%s",
                     secret_for(args[i] + 19));
            args[i] = rewritten[FUZZ_ENVS_MAX];
        } else if (args[i][18] == '\0' && i + 1 < argc) {
            args[i + 1] = (char *)secret_for(args[i + 1]);
        }
    }

    cfg_t cfg;
    char err[512];
    memset(err, 'x', sizeof(err));
    cfg_result_t r = cfg_parse(&cfg, argc, args, devnull, err, sizeof(err));
    FUZZ_CHECK(r == CFG_OK || r == CFG_EXIT_OK || r == CFG_ERROR);
    FUZZ_CHECK(terminated(err, sizeof(err)));
    if (r == CFG_ERROR)
        FUZZ_CHECK(err[0] != '\0' && strchr(err, '\n') == NULL);
    if (r == CFG_OK) {
        FUZZ_CHECK(terminated(cfg.listen_host, sizeof(cfg.listen_host)));
        FUZZ_CHECK(cfg.listen_port >= 0 && cfg.listen_port <= 65535);
        FUZZ_CHECK(terminated(cfg.redis_host, sizeof(cfg.redis_host)));
        FUZZ_CHECK(terminated(cfg.redis_password, sizeof(cfg.redis_password)));
        FUZZ_CHECK(terminated(cfg.sentinel_master, sizeof(cfg.sentinel_master)));
        FUZZ_CHECK(cfg.nsentinels >= 0 && cfg.nsentinels <= CFG_SENTINELS_MAX);
        for (int i = 0; i < cfg.nsentinels; i++) {
            FUZZ_CHECK(terminated(cfg.sentinels[i].host, sizeof(cfg.sentinels[i].host)));
            FUZZ_CHECK(cfg.sentinels[i].port >= 1 && cfg.sentinels[i].port <= 65535);
        }
        if (cfg.nsentinels == 0)
            FUZZ_CHECK(cfg.redis_port >= 1 && cfg.redis_port <= 65535 && cfg.redis_host[0] != '\0');
        else
            FUZZ_CHECK(cfg.sentinel_master[0] != '\0');
        FUZZ_CHECK(cfg.redis_db >= 0 && cfg.redis_db <= 15);
        FUZZ_CHECK(cfg.channels.count > 0);
        for (size_t i = 0; i < cfg.channels.count; i++)
            FUZZ_CHECK(cfg.channels.prefix[i] || chan_name_valid(cfg.channels.names[i],
                                                                 cfg.channels.lens[i]));
        FUZZ_CHECK(terminated(cfg.bridge_id, sizeof(cfg.bridge_id)) && cfg.bridge_id[0] != '\0');
        FUZZ_CHECK(terminated(cfg.redis_prefix, sizeof(cfg.redis_prefix)));
        FUZZ_CHECK(strchr(cfg.redis_prefix, '{') != NULL);
        FUZZ_CHECK(cfg.heartbeat_interval >= 1 && cfg.heartbeat_interval <= 3600);
        FUZZ_CHECK(cfg.max_channels_per_conn >= 1 && cfg.max_channels_per_conn <= 256);
        FUZZ_CHECK(cfg.compression_level >= 1 && cfg.compression_level <= 9);
        FUZZ_CHECK(cfg.max_queue_bytes >= 4096 && cfg.max_message_bytes >= 64);
        FUZZ_CHECK(cfg.auth_secret_len == 0 ||
                   (cfg.auth_secret_len >= CFG_SECRET_MIN && cfg.auth_secret_len <= CFG_SECRET_MAX));
        FUZZ_CHECK(cfg.auth_secret[cfg.auth_secret_len] == '\0');
        FUZZ_CHECK(cfg.token_skew >= 0 && cfg.token_skew <= 600);
        FUZZ_CHECK(cfg.max_token_bytes >= 256 && cfg.max_token_bytes <= 16384);
        FUZZ_CHECK(terminated(cfg.cors_origins, sizeof(cfg.cors_origins)));
        for (const char *o = cfg.cors_origins; *o != '\0'; o++)
            FUZZ_CHECK(*o > 0x20 && *o < 0x7f);
        FUZZ_CHECK(!cfg.cors_any || cfg.cors_origins[0] == '\0');
    }
    cfg_free(&cfg);

    for (int i = 0; i < nenv; i++)
        unsetenv(names[i]);
    free(buf);
    return 0;
}
