/* Logging to stderr. The macros test the level before evaluating their arguments.
 * Thread-safe: one line is written under stderr's lock, so worker threads (the HTTP collectors)
 * may log; log_level_current is set once at start-up, before any thread starts. */
#ifndef TAPIO_LOG_H
#define TAPIO_LOG_H

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_level_current;

void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *log_level_name(enum log_level level);

#define log_at(level, ...)                                  \
	do {                                                \
		if ((level) <= log_level_current)           \
			log_write((level), __VA_ARGS__);    \
	} while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

#endif /* TAPIO_LOG_H */
