#include "http_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "privilege.h"

int http_worker_init(struct http_worker *w, const char *name, struct http_client *client,
		     struct handoff *handoff, const char *state_dir, const char *node)
{
	memset(w, 0, sizeof(*w));
	w->client = client;
	w->handoff = handoff;
	if ((size_t)snprintf(w->name, sizeof(w->name), "%s", name) >= sizeof(w->name) ||
	    (size_t)snprintf(w->state_dir, sizeof(w->state_dir), "%s", state_dir ? state_dir : "") >=
		    sizeof(w->state_dir) ||
	    (size_t)snprintf(w->node, sizeof(w->node), "%s", node) >= sizeof(w->node))
		return -EINVAL;
	return 0;
}

int http_worker_add_source(struct http_worker *w, struct http_source *src)
{
	if (w->nsources == HANDOFF_SOURCES)
		return -ENOSPC;
	w->sources[w->nsources] = src;
	return (int)w->nsources++;
}

static struct checkpoint_id id_of(const struct http_worker *w, const struct http_source *src)
{
	return (struct checkpoint_id){ .dir = w->state_dir, .collector = w->name,
				       .source = src->name, .node = w->node, .scope = src->scope };
}

int http_worker_load(struct http_worker *w, int index, char *position, size_t size,
		     char **state, size_t *state_len)
{
	struct checkpoint_id id;
	char why[512];
	int err;

	if (state)
		*state = NULL;
	if (state_len)
		*state_len = 0;
	if (!w->state_dir[0] || index < 0 || (size_t)index >= w->nsources)
		return -ENOENT;
	id = id_of(w, w->sources[index]);
	err = checkpoint_load(&id, position, size, state, state_len, why, sizeof(why));
	if (err == -ENOENT)
		return err;
	if (err) {
		log_warn("%s: checkpoint of %s ignored, starting afresh: %s", w->name,
			 w->sources[index]->name, why);
		return -EINVAL;
	}
	log_info("%s: resuming %s from checkpoint %s", w->name, w->sources[index]->name, position);
	return 0;
}

void http_worker_checkpoint(struct http_worker *w)
{
	char position[HANDOFF_POSITION_MAX], why[512];

	for (size_t i = 0; i < w->nsources; i++) {
		struct http_source *src = w->sources[i];
		struct checkpoint_id id = id_of(w, src);
		char *state = NULL;
		size_t len = 0;
		int err;

		if (!handoff_take_durable(w->handoff, (int)i, position, sizeof(position)) ||
		    !w->state_dir[0])
			continue;
		if (src->state_at)
			state = src->state_at(src, position, &len);
		err = checkpoint_store(&id, position, state, len, why, sizeof(why));
		free(state);
		if (err && err != w->checkpoint_err) /* a line per change of state */
			log_error("%s: cannot write the checkpoint of %s (a restart will resume from an "
				  "older one): %s", w->name, src->name, why);
		else if (!err && w->checkpoint_err)
			log_info("%s: checkpoints written again", w->name);
		w->checkpoint_err = err;
	}
}

static void *thread_main(void *arg)
{
	struct http_worker *w = arg;

	/* This thread parses what servers send: it holds no capability (they are per thread). */
	if (privilege_drop_thread())
		log_warn("%s: worker thread could not drop its capabilities", w->name);
	w->run(w);
	http_worker_checkpoint(w);
	return NULL;
}

int http_worker_start(struct http_worker *w, void (*run)(struct http_worker *w))
{
	int err;

	w->run = run;
	err = pthread_create(&w->thread, NULL, thread_main, w);
	if (err)
		return -err;
	w->started = true;
	return 0;
}

bool http_worker_stopping(struct http_worker *w)
{
	return handoff_stopped(w->handoff) || http_client_stopped(w->client);
}

void http_worker_stop(struct http_worker *w)
{
	if (w->handoff)
		handoff_stop(w->handoff);
	if (w->client)
		http_client_stop(w->client);
	if (w->started)
		pthread_join(w->thread, NULL);
	w->started = false;
}

void http_worker_destroy(struct http_worker *w)
{
	http_worker_stop(w);
	if (w->handoff)
		http_worker_checkpoint(w);
	http_client_close(w->client);
	handoff_free(w->handoff);
	w->client = NULL;
	w->handoff = NULL;
	w->nsources = 0;
}
