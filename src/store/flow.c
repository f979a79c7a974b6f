#include "store/flow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/time.h"


struct st_flow *st_flow_new(void) {
  struct st_flow *flow = st_calloc(1, sizeof(*flow));

  if (flow != NULL)
    st_flow_new_id(flow->id);
  return flow;
}


void st_flow_free(struct st_flow **flow) {
  struct st_flow *f = *flow;

  if (f == NULL)
    return;
  st_free(f->host);
  st_free(f->method);
  st_free(f->pretty_url);
  st_free(f->url);
  st_free(f->http_version);
  st_free(f->req_headers);
  st_free(f->req_content_type);
  st_free(f->req_body);
  st_free(f->resp_http_version);
  st_free(f->resp_headers);
  st_free(f->resp_content_type);
  st_free(f->resp_body);
  st_free(f);
  *flow = NULL;
}


/* Fills buf from the kernel's random pool. getrandom() only fails before
 * the pool is initialised or under seccomp filters; /dev/urandom is tried
 * next. Returns 0 when every byte was filled. */
static int fill_random(unsigned char *buf, size_t len) {
  size_t got = 0;
  int fd;

  while (got < len) {
    ssize_t n = getrandom(buf + got, len - got, GRND_NONBLOCK);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      break;
    }
    got += (size_t)n;
  }
  if (got == len)
    return 0;

  fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  got = 0;
  while (got < len) {
    ssize_t n = read(fd, buf + got, len - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    got += (size_t)n;
  }
  close(fd);
  return got == len ? 0 : -1;
}


/* Last resort when the kernel gives no randomness: splitmix64 over the
 * clock and a process-wide counter. Ids stay unique within the process,
 * which is what the primary key needs. */
static void fill_fallback(unsigned char *buf, size_t len) {
  static atomic_uint_fast64_t counter;
  uint64_t x = (uint64_t)st_time_now_us() ^ ((uint64_t)getpid() << 32);

  x += atomic_fetch_add(&counter, 1) * 0x9e3779b97f4a7c15u;
  for (size_t i = 0; i < len; i++) {
    uint64_t z = (x += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    buf[i] = (unsigned char)(z ^ (z >> 31));
  }
}


/* The id has the form of a version 4 UUID in hex without dashes, which is
 * what the earlier Python tool stored (uuid.uuid4().hex). */
void st_flow_new_id(char id[ST_FLOW_ID_LEN]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char bytes[16];

  if (fill_random(bytes, sizeof(bytes)) != 0)
    fill_fallback(bytes, sizeof(bytes));
  bytes[6] = (unsigned char)((bytes[6] & 0x0f) | 0x40);  /* version 4 */
  bytes[8] = (unsigned char)((bytes[8] & 0x3f) | 0x80);  /* RFC 4122 variant */
  for (size_t i = 0; i < sizeof(bytes); i++) {
    id[2 * i] = hex[bytes[i] >> 4];
    id[2 * i + 1] = hex[bytes[i] & 0x0f];
  }
  id[ST_FLOW_ID_LEN - 1] = '\0';
}
