/*
 * The daemon (dsvmops run): the long-running controller.
 *
 * One loop thread does all reconciling, so two reconciles of one target
 * never overlap; the HTTP server's threads only record requests and wake
 * it. Each pass of the loop:
 *
 *   1. on SIGHUP, reloads the configuration (a bad file keeps the old one);
 *   2. when the poll interval passed or a webhook asked, fetches the Git
 *      source (a no-change fetch is one ref listing) and, on a new commit,
 *      plans it; with reconcile.auto_apply (and not suspended) applies it,
 *      else keeps it as the pending plan for approve;
 *   3. applies the pending plan when approved;
 *   4. every drift.interval, plans the applied commit against live state
 *      (reads only), keeps drift episodes, heals what policy says to heal,
 *      and alerts once per episode opened and once per episode resolved;
 *   5. refreshes /api/v1/status and the metrics, and sleeps until the next
 *      deadline or a wake-up.
 *
 * Triggers that arrive during a pass collapse into one follow-up pass.
 * SIGTERM or SIGINT stops taking work: writes on the wire finish and are
 * journalled, the rest of an apply is not started, and run returns 0.
 */
#ifndef DSVM_DAEMON_H
#define DSVM_DAEMON_H

typedef struct {
    const char *config_path;  /**< -c FILE */
    const char *provider_dir; /**< NULL: next to the program */
    const char *instance;     /**< ownership tag value; NULL: "default" */
    const char *rate_limits;  /**< client token buckets; NULL: ARM's */
    const char *listen;       /**< overrides server.listen when set */
    const char *log_format;   /**< "text" or "json"; NULL: log.format or text */
    const char *log_level;    /**< NULL: log.level or info */
} dsvm_daemon_opts;

/**
 * Run the daemon until SIGTERM or SIGINT. Prints "dsvmops listening on
 * http://HOST:PORT" as the first line of stdout once the server is up.
 * Returns a process exit code: 0 after a clean stop, 1 when it could not
 * start (bad configuration, the state store or the address unavailable).
 */
int dsvm_daemon_run(const dsvm_daemon_opts *opts);

#endif
