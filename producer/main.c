/*
 * tapio-producer: one process, one event loop. epoll watches the joined ring buffers, the
 * collectors' wake fds and hand-off queues, librdkafka's delivery-report pipe, a 1 s timerfd
 * (clock offset, kernel counters, stats) and a signalfd (SIGINT/SIGTERM: stop, drain, flush;
 * SIGHUP: logged, nothing else; SIGUSR1: counters logged; SIGUSR2: debug logging on/off).
 * SIGPIPE and SIGXFSZ are ignored: the failed write reports EPIPE or EFBIG where it happens. A
 * second SIGINT/SIGTERM during the flush cuts it short.
 */
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "clock.h"
#include "collector.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "pipeline.h"
#include "privilege.h"
#include "probe.h"
#include "topics.h"

/* Longest a record waits in a ring buffer below the wake-up threshold (bpf/ringbuf.bpf.h).
 * Below linger.ms (50): a pass every 20 ms instead of every 5 halves the event loop's CPU per
 * event at 10 000 events/s (BENCHMARKS.md); busy rings wake the loop at once anyway. */
#define RING_POLL_MS 20

/* epoll tags; collector i's wake fd is EV_WAKE + i, its hand-off EV_HANDOFF + i, metrics client
 * n EV_METRICS_CLIENT + n. */
enum {
	EV_RING, EV_KAFKA, EV_TIMER, EV_SIGNAL, EV_METRICS,
	EV_WAKE = 1 << 8, EV_HANDOFF = 2 << 8, EV_METRICS_CLIENT = 3 << 8,
};

static struct pipeline pipeline;
static struct metrics_server metrics = { .listen_fd = -1 };
static struct privilege_state privileges;

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	size_t n;

	if ((level == LIBBPF_WARN ? LOG_WARN : LOG_DEBUG) > log_level_current)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[n - 1] = '\0';
	if (level == LIBBPF_WARN)
		log_warn("libbpf: %s", line);
	else
		log_debug("libbpf: %s", line);
	return 0;
}

static int watch(int epfd, int fd, int tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

static int open_timer(void)
{
	struct itimerspec every_second = { .it_interval = { 1, 0 }, .it_value = { 1, 0 } };
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);

	if (fd >= 0 && timerfd_settime(fd, 0, &every_second, NULL) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Before any thread starts, so every thread inherits the mask and the dispositions. */
static int open_signals(void)
{
	static const int handled[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2 };
	sigset_t set;

	/* A metrics client or broker that went away, a spool over RLIMIT_FSIZE: errors, not death. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR || signal(SIGXFSZ, SIG_IGN) == SIG_ERR)
		return -1;
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(handled) / sizeof(handled[0]); i++)
		sigaddset(&set, handled[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* One signal from the signalfd: true when it asks the producer to stop. */
static bool on_signal(const struct pipeline *pl, int signal_fd)
{
	static enum log_level configured = LOG_INFO;
	struct signalfd_siginfo si;

	if (read(signal_fd, &si, sizeof(si)) != sizeof(si))
		return false;
	switch (si.ssi_signo) {
	case SIGHUP:
		/* A reload would have to re-open collectors, topics and the spool under the loop's
		 * feet: not done. Restart the producer to apply a new configuration. */
		log_info("SIGHUP from pid %u: configuration is not reloaded (restart to apply changes); "
			 "carrying on", si.ssi_pid);
		return false;
	case SIGUSR1:
		pipeline_log_stats(pl);
		return false;
	case SIGUSR2:
		if (log_level_current != LOG_DEBUG) {
			configured = log_level_current;
			log_level_current = LOG_DEBUG;
		} else {
			log_level_current = configured;
		}
		log_warn("SIGUSR2: log level %s", log_level_name(log_level_current));
		return false;
	default:
		log_info("%s: shutting down (send it again to stop waiting for deliveries)",
			 strsignal((int)si.ssi_signo));
		return true;
	}
}

static void cut_flush(int signo)
{
	(void)signo;
	publisher_cut_flush();
}

/* From here on, SIGINT or SIGTERM (a second one, or one already pending) cuts the flush short. */
static void stop_waiting_on_signal(void)
{
	struct sigaction sa = { .sa_handler = cut_flush };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0 ||
	    sigprocmask(SIG_UNBLOCK, &set, NULL) < 0)
		log_warn("signals: %s: a second SIGTERM will not cut the flush short", strerror(errno));
}

/* Runs until a signal or a fatal Kafka error. Returns 0, or -errno. */
static int run_loop(struct pipeline *pl, int timer_fd, int signal_fd)
{
	const struct tapio_config *cfg = pl->cfg;
	struct epoll_event events[8];
	int epfd = epoll_create1(EPOLL_CLOEXEC), err = 0;
	unsigned ticks = 0;

	if (epfd < 0 || (pl->ring && watch(epfd, ring_buffer__epoll_fd(pl->ring), EV_RING) < 0) ||
	    watch(epfd, publisher_wake_fd(&pl->publisher), EV_KAFKA) < 0 ||
	    watch(epfd, timer_fd, EV_TIMER) < 0 || watch(epfd, signal_fd, EV_SIGNAL) < 0 ||
	    (metrics.listen_fd >= 0 && watch(epfd, metrics.listen_fd, EV_METRICS) < 0))
		goto epoll_failed;
	for (size_t i = 0; i < pl->ncollectors; i++) {
		const struct collector_runtime *c = &pl->collectors[i];

		if (c->state != COLLECTOR_RUNNING)
			continue;
		if ((c->io.wake_fd >= 0 && watch(epfd, c->io.wake_fd, EV_WAKE + (int)i) < 0) ||
		    (c->io.handoff && watch(epfd, handoff_fd(c->io.handoff), EV_HANDOFF + (int)i) < 0))
			goto epoll_failed;
	}
	for (;;) {
		/* Records below the wake-up threshold come without a wake-up: the rings are read on
		 * every pass, and there is a pass at least every RING_POLL_MS. */
		int n = epoll_wait(epfd, events, 8, RING_POLL_MS);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			log_error("epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (int i = 0; i < n; i++) {
			uint64_t expirations;

			uint32_t tag = events[i].data.u32;

			if (tag >= EV_METRICS_CLIENT) {
				metrics_serve(&metrics, (int)(tag - EV_METRICS_CLIENT), pl,
					      clock_ms(CLOCK_MONOTONIC));
				continue;
			}
			if (tag >= EV_HANDOFF) {
				pipeline_take_handoff(&pl->collectors[tag - EV_HANDOFF]);
				continue;
			}
			if (tag >= EV_WAKE) {
				pipeline_wake(&pl->collectors[tag - EV_WAKE]);
				continue;
			}
			switch (tag) {
			case EV_RING:
				if (ring_buffer__consume(pl->ring) < 0)
					log_warn("ring buffer: %s", strerror(errno));
				break;
			case EV_KAFKA:
				/* Delivery reports settle records: hand-offs may take more. */
				publisher_poll(&pl->publisher);
				pipeline_replay(pl);
				for (size_t c = 0; c < pl->ncollectors; c++)
					pipeline_take_handoff(&pl->collectors[c]);
				break;
			case EV_TIMER:
				if (read(timer_fd, &expirations, sizeof(expirations)) < 0)
					break;
				publisher_poll(&pl->publisher);
				pipeline_tick(pl);
				metrics_expire(&metrics, clock_ms(CLOCK_MONOTONIC));
				ticks++;
				if (cfg->stats_interval_s && ticks % cfg->stats_interval_s == 0)
					pipeline_log_stats(pl);
				break;
			case EV_METRICS:
				metrics_accept(&metrics, epfd, EV_METRICS_CLIENT, pl, clock_ms(CLOCK_MONOTONIC));
				break;
			case EV_SIGNAL:
				if (on_signal(pl, signal_fd))
					goto out;
				break;
			}
		}
		if (pl->ring && ring_buffer__consume(pl->ring) < 0)
			log_warn("ring buffer: %s", strerror(errno));
		if (pl->publisher.fatal) {
			err = -EIO;
			goto out;
		}
	}
out:
	if (epfd >= 0)
		close(epfd);
	return err;
epoll_failed:
	err = -errno;
	log_error("epoll: %s", strerror(errno));
	goto out;
}

int main(int argc, char **argv)
{
	const char *known[COLLECTOR_MAX + 1] = { 0 };
	struct topics_options topics;
	struct tapio_config cfg;
	char errstr[1024];
	int timer_fd = -1, signal_fd = -1, status = 1, err, running, undelivered;
	const struct collector_runtime *metadata;
	char summary[256];
	uint64_t lost;

	size_t nknown = 0;

	/* Those that always run are not for `collectors` to name. */
	for (size_t i = 0; i < collector_count && nknown < COLLECTOR_MAX; i++)
		if (!collector_table[i]->always)
			known[nknown++] = collector_table[i]->name;
	err = topics_take_args(&argc, argv, &topics, errstr, sizeof(errstr));
	if (!err)
		err = config_from_args(&cfg, argc, argv, known, stdout, errstr, sizeof(errstr));
	else
		config_defaults(&cfg);
	if (err) {
		if (err < 0)
			fprintf(stderr, "tapio-producer: %s\n", errstr);
		config_free(&cfg);
		return err > 0 ? 0 : 2;
	}
	if (topics.format != TOPICS_NONE) {
		status = topics_print(&cfg, &topics, stdout) ? 1 : 0;
		config_free(&cfg);
		return status;
	}
	log_level_current = cfg.log_level;
	/* Before any thread starts: libcurl's global state is not thread-safe to set up. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	libbpf_set_print(libbpf_log);
	if (cfg.probe) {
		status = probe_run(&cfg, stdout);
		goto out;
	}

	/* Signals first, so a SIGTERM during start-up is not lost. */
	signal_fd = open_signals();
	timer_fd = open_timer();
	if (signal_fd < 0 || timer_fd < 0) {
		log_error("signalfd/timerfd: %s", strerror(errno));
		goto out;
	}
	err = pipeline_open(&pipeline, &cfg, NULL, errstr, sizeof(errstr));
	if (err) {
		log_error("%s", errstr);
		status = err == -EINVAL ? 2 : 1;
		goto out;
	}
	if (cfg.metrics_listen) {
		err = metrics_open(&metrics, cfg.metrics_listen, errstr, sizeof(errstr));
		if (err) {
			log_error("%s", errstr);
			goto out;
		}
		log_info("metrics: http://%s/metrics, /healthz, /readyz", metrics.address);
	}
	running = pipeline_attach(&pipeline);
	if (running == -EINVAL) {
		status = 2; /* the collector said what is missing */
		goto out;
	}
	if (running <= 0) {
		log_error("no collector could start; exiting");
		goto out;
	}
	/* Attached: from here on the process needs almost no privilege (privilege.h). */
	privilege_drop(&privileges);
	metadata = pipeline_collector(&pipeline, "metadata");
	log_info("node %s: %d collector(s) running%s", cfg.node_name, running,
		 metadata && metadata->state == COLLECTOR_RUNNING ? ", and metadata beside them" : "");
	if (pipeline.publisher.mock)
		log_info("embedded Kafka-protocol broker (in memory, for trying Tapio out) at %s",
			 pipeline.publisher.bootstrap);
	else
		log_info("producing to %s", pipeline.publisher.bootstrap);
	/* stdout carries only these lines, printed once the programs are attached, so scripts can
	 * read the addresses and know that events are flowing; bootstrap.servers comes last. */
	if (metrics.listen_fd >= 0)
		printf("metrics=%s\n", metrics.address);
	printf("bootstrap.servers=%s\n", pipeline.publisher.bootstrap);
	fflush(stdout);

	err = run_loop(&pipeline, timer_fd, signal_fd);
	stop_waiting_on_signal();
	undelivered = pipeline_drain(&pipeline, cfg.flush_timeout_ms);
	pipeline_log_stats(&pipeline);
	/* The summary and the exit status speak for the whole run, not only its last seconds. */
	lost = pipeline_lost(&pipeline, summary, sizeof(summary));
	if (lost)
		log_error("%" PRIu64 " record(s) were lost during this run (%s): the LOSS records on "
			  "their topics and /metrics say where and when", lost, summary);
	if (undelivered)
		log_error("%d record(s) could not be delivered within %d ms and are lost", undelivered,
			  cfg.flush_timeout_ms);
	else if (pipeline.spool && !spool_empty(pipeline.spool))
		log_warn("records Kafka has not taken are in the spool (%s) for the next start",
			 cfg.spool_dir);
	else if (!lost)
		log_info("all records delivered");
	status = err || undelivered || lost ? 1 : 0;
out:
	metrics_close(&metrics);
	pipeline_close(&pipeline);
	if (timer_fd >= 0)
		close(timer_fd);
	if (signal_fd >= 0)
		close(signal_fd);
	config_free(&cfg);
	curl_global_cleanup();
	return status;
}
