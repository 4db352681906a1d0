/* sse-bridge: delivers Redis pub/sub messages to browsers over Server-Sent Events. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridge.h"
#include "config.h"
#include "log.h"

int main(int argc, char **argv)
{
    cfg_t cfg;
    char err[512];
    cfg_result_t cr = cfg_parse(&cfg, argc, argv, stdout, err, sizeof(err));
    if (cr != CFG_OK) {
        if (cr == CFG_ERROR)
            fprintf(stderr, "sse-bridge: %s\n", err);
        cfg_free(&cfg);
        return cr == CFG_ERROR ? 2 : 0;
    }
    log_set_level(cfg.log_level);
    log_set_format(cfg.log_format);
    /* A write to a socket the peer closed must fail with EPIPE, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t loop;
    int r = uv_loop_init(&loop);
    if (r != 0) {
        log_error("cannot create the event loop: %s", uv_strerror(r));
        cfg_free(&cfg);
        return 1;
    }
    bridge_t br;
    /* On failure bridge_start has closed what it opened; the loop runs the
     * close callbacks and returns. */
    r = bridge_start(&br, &loop, &cfg);
    uv_run(&loop, UV_RUN_DEFAULT);
    bridge_free(&br);
    if (uv_loop_close(&loop) != 0)
        log_warn("event loop closed with handles still open");
    cfg_free(&cfg);
    return r != 0 ? 1 : br.exit_code;
}
