/* Reading flows ahead of the extractors: a thread scans probe.db, copies
 * each flow and parses the HTML page of flows that an extractor will read,
 * while the pipeline thread runs Lua on the flows before it. gumbo took
 * 27% of the CPU time of `stratosphere extract` on the synthetic file of
 * bench/make_probe.py, and that work now runs on another core. */
#include "pipeline/internal.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <string.h>

#include "util/alloc.h"

/* The queue contains at most AHEAD_MAX_ITEMS flows and, unless it
 * contains a single flow, AHEAD_MAX_BYTES of flow copies and parse trees,
 * so the reader stays a bounded distance ahead however large the bodies
 * are. With 64 or 512 flows the proxy's RSS grew by 8 to 18 MB over the
 * second half of tests/e2e/load_soak.sh (malloc keeps what the reader
 * thread frees), against under 1 MB with 16. */
#define AHEAD_MAX_ITEMS 16
#define AHEAD_MAX_BYTES (16 * 1024 * 1024)

struct st__ahead {
  /* Set before the thread starts, then read by the reader only. */
  struct st_store *store;
  struct st_store_filter filter;
  struct st__ahead_extractor *extractors;
  size_t extractor_count;
  int64_t cursor;
  size_t memory_limit;
  char reader_err[ST_ERRLEN];

  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t changed;  /* signalled on push, pop, cancel and end */

  /* Under lock. */
  struct st__ahead_item *items[AHEAD_MAX_ITEMS];  /* a ring */
  size_t head, count;
  size_t bytes;            /* sum of the queued items' bytes */
  int done;                /* the reader has finished its scan */
  int cancel;              /* the reader is to stop */
  int rc;                  /* the scan's result once done */

  /* Set while the pipeline thread waits for a flow. The reader then
   * queues the next flow without parsing its page, which the extractor
   * parses itself, so both threads parse when parsing is the slower
   * side. */
  atomic_int consumer_waiting;
};

/* The arena allocator of a parse made here, which no lua_State counts.
 * Only the parse allocates; freeing needs no state, so a tree handed to
 * Lua frees its blocks after the reader is gone. */
struct parse_guard {
  size_t limit;  /* bytes the tree may take; 0 means no limit */
  size_t used;
  jmp_buf jump;
};


static void *tree_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  struct parse_guard *guard = ud;

  (void)osize;
  if (nsize == 0) {
    st_free(ptr);
    return NULL;
  }
  if (guard->limit != 0 && nsize > guard->limit - guard->used)
    return NULL;
  ptr = st_malloc(nsize);
  if (ptr != NULL)
    guard->used += nsize;
  return ptr;
}


/* The tree's oom callback: leaves the parse. All of gumbo's memory is in
 * the arena, which the caller then frees, so the jump leaks nothing. */
static void tree_oom(void *ud) {
  struct parse_guard *guard = ud;

  longjmp(guard->jump, 1);
}


/* Parses the response body of item as html.parse() does when it finds
 * no charset other than UTF-8. html.parse() converts a page in another
 * charset first, and the tree of the unconverted bytes is then not taken.
 * A page whose tree exceeds the Lua memory cap is left for the extractor,
 * whose own parse then fails as it always did. */
static void parse_page(struct st__ahead *a, struct st__ahead_item *item) {
  struct parse_guard guard;
  struct st_htmllib_page *page = &item->page;

  guard.limit = a->memory_limit;
  guard.used = 0;
  page->input = item->flow.resp_body != NULL ? item->flow.resp_body : "";
  page->len = item->flow.resp_body_len;
  st_htmltree_init(&page->tree, tree_alloc, &guard, tree_oom, &guard);
  if (setjmp(guard.jump) != 0) {
    st_htmltree_free(&page->tree);
    return;
  }
  st_htmltree_parse(&page->tree, page->input, page->len, 1);
  page->tree.alloc_ud = NULL;
  page->tree.oom = NULL;
  page->tree.oom_ud = NULL;
}


/* Whether an extractor that will run on flow reads HTML ahead. */
static int wants_page(const struct st__ahead *a, const struct st_flow *flow) {
  for (size_t i = 0; i < a->extractor_count; i++) {
    const struct st__ahead_extractor *x = &a->extractors[i];

    if (x->new_only && flow->rowid <= a->cursor)
      continue;
    if (atomic_load(x->parse_ahead) && st__match_flow(x->match, flow))
      return 1;
  }
  return 0;
}


static size_t text_size(const char *s) {
  return s != NULL ? strlen(s) + 1 : 0;
}


/* Copies s (of len bytes, NUL-terminated in the copy) to *next and
 * returns the copy, or NULL for NULL. */
static char *copy_bytes(char **next, const char *s, size_t len) {
  char *out = *next;

  if (s == NULL)
    return NULL;
  memcpy(out, s, len);
  out[len] = '\0';
  *next += len + 1;
  return out;
}


static char *copy_text(char **next, const char *s) {
  return s != NULL ? copy_bytes(next, s, strlen(s)) : NULL;
}


/* Returns a queue item that owns a copy of flow, whose pointers borrow
 * from the scan, in one allocation; NULL when out of memory. */
static struct st__ahead_item *copy_flow(const struct st_flow *flow) {
  const char *texts[] = {
    flow->host, flow->method, flow->pretty_url, flow->url,
    flow->http_version, flow->req_headers, flow->req_content_type,
    flow->resp_http_version, flow->resp_headers, flow->resp_content_type,
  };
  size_t size = sizeof(struct st__ahead_item);
  struct st__ahead_item *item;
  struct st_flow *copy;
  char *next;

  for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
    size += text_size(texts[i]);
  size += flow->req_body != NULL ? flow->req_body_len + 1 : 0;
  size += flow->resp_body != NULL ? flow->resp_body_len + 1 : 0;
  item = st_malloc(size);
  if (item == NULL)
    return NULL;
  memset(item, 0, sizeof(*item));
  item->bytes = size;

  copy = &item->flow;
  *copy = *flow;  /* the fixed-size fields; pointers are replaced below */
  next = (char *)(item + 1);
  copy->host = copy_text(&next, flow->host);
  copy->method = copy_text(&next, flow->method);
  copy->pretty_url = copy_text(&next, flow->pretty_url);
  copy->url = copy_text(&next, flow->url);
  copy->http_version = copy_text(&next, flow->http_version);
  copy->req_headers = copy_text(&next, flow->req_headers);
  copy->req_content_type = copy_text(&next, flow->req_content_type);
  copy->req_body = copy_bytes(&next, flow->req_body, flow->req_body_len);
  copy->resp_http_version = copy_text(&next, flow->resp_http_version);
  copy->resp_headers = copy_text(&next, flow->resp_headers);
  copy->resp_content_type = copy_text(&next, flow->resp_content_type);
  copy->resp_body = copy_bytes(&next, flow->resp_body, flow->resp_body_len);
  return item;
}


void st__ahead_item_free(struct st__ahead_item *item) {
  if (item == NULL)
    return;
  st_htmltree_free(&item->page.tree);
  st_free(item);
}


/* The st_store_scan() callback of the reader. Returns 1 when cancelled. */
static int on_read(void *ud, const struct st_flow *flow) {
  struct st__ahead *a = ud;
  struct st__ahead_item *item;
  int cancelled;

  pthread_mutex_lock(&a->lock);
  cancelled = a->cancel;
  pthread_mutex_unlock(&a->lock);
  if (cancelled)
    return 1;

  item = copy_flow(flow);
  if (item == NULL)
    return st_seterr(a->reader_err, sizeof(a->reader_err), ST_ENOMEM,
                     "out of memory copying flow %s (rowid %lld, %zu "
                     "bytes of response body)", flow->id,
                     (long long)flow->rowid, flow->resp_body_len);
  if (!atomic_load(&a->consumer_waiting) && wants_page(a, flow)) {
    parse_page(a, item);
    item->bytes += item->page.tree.arena_bytes;
  }

  pthread_mutex_lock(&a->lock);
  while (!a->cancel && a->count > 0 &&
         (a->count == AHEAD_MAX_ITEMS ||
          a->bytes + item->bytes > AHEAD_MAX_BYTES))
    pthread_cond_wait(&a->changed, &a->lock);
  cancelled = a->cancel;
  if (!cancelled) {
    a->items[(a->head + a->count) % AHEAD_MAX_ITEMS] = item;
    a->count++;
    a->bytes += item->bytes;
    pthread_cond_signal(&a->changed);
  }
  pthread_mutex_unlock(&a->lock);
  if (cancelled) {
    st__ahead_item_free(item);
    return 1;
  }
  return 0;
}


static void *reader_main(void *arg) {
  struct st__ahead *a = arg;
  int rc = st_store_scan(a->store, &a->filter, on_read, a, a->reader_err,
                         sizeof(a->reader_err));

  pthread_mutex_lock(&a->lock);
  a->rc = rc > 0 ? 0 : rc;  /* > 0: cancelled, which is not an error */
  a->done = 1;
  pthread_cond_signal(&a->changed);
  pthread_mutex_unlock(&a->lock);
  return NULL;
}


int st__ahead_start(struct st__ahead **out, struct st_store *store,
                    const struct st_store_filter *filter,
                    const struct st__ahead_extractor *extractors,
                    size_t extractor_count, int64_t cursor,
                    size_t memory_limit, char *err, size_t errlen) {
  struct st__ahead *a = st_calloc(1, sizeof(*a));
  int rc;

  *out = NULL;
  if (a == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  if (extractor_count > 0) {
    a->extractors = st_calloc(extractor_count, sizeof(*extractors));
    if (a->extractors == NULL) {
      st_free(a);
      return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
    }
    memcpy(a->extractors, extractors, extractor_count * sizeof(*extractors));
  }
  a->store = store;
  a->filter = *filter;
  a->extractor_count = extractor_count;
  a->cursor = cursor;
  a->memory_limit = memory_limit;
  pthread_mutex_init(&a->lock, NULL);
  pthread_cond_init(&a->changed, NULL);

  rc = pthread_create(&a->thread, NULL, reader_main, a);
  if (rc != 0) {
    pthread_cond_destroy(&a->changed);
    pthread_mutex_destroy(&a->lock);
    st_free(a->extractors);
    st_free(a);
    return st_seterr(err, errlen, -rc, "starting the flow reader thread "
                     "failed: %s", strerror(rc));
  }
  *out = a;
  return 0;
}


struct st__ahead_item *st__ahead_next(struct st__ahead *a) {
  struct st__ahead_item *item = NULL;

  pthread_mutex_lock(&a->lock);
  while (a->count == 0 && !a->done) {
    atomic_store(&a->consumer_waiting, 1);
    pthread_cond_wait(&a->changed, &a->lock);
  }
  atomic_store(&a->consumer_waiting, 0);
  if (a->count > 0) {
    item = a->items[a->head];
    a->head = (a->head + 1) % AHEAD_MAX_ITEMS;
    a->count--;
    a->bytes -= item->bytes;
    pthread_cond_signal(&a->changed);
  }
  pthread_mutex_unlock(&a->lock);
  return item;
}


int st__ahead_finish(struct st__ahead **pa, char *err, size_t errlen) {
  struct st__ahead *a = *pa;
  int rc;

  if (a == NULL)
    return 0;
  pthread_mutex_lock(&a->lock);
  a->cancel = 1;
  pthread_cond_signal(&a->changed);
  pthread_mutex_unlock(&a->lock);
  pthread_join(a->thread, NULL);

  while (a->count > 0) {
    st__ahead_item_free(a->items[a->head]);
    a->head = (a->head + 1) % AHEAD_MAX_ITEMS;
    a->count--;
  }
  rc = a->rc;
  if (rc != 0)
    st_seterr(err, errlen, rc, "%s", a->reader_err);
  pthread_cond_destroy(&a->changed);
  pthread_mutex_destroy(&a->lock);
  st_free(a->extractors);
  st_free(a);
  *pa = NULL;
  return rc;
}
