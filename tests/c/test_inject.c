/* Tests for src/proxy/inject.c: where the banner goes, and where it must
 * not. Every document is also fed one byte at a time. */
#include "test.h"

#include "http/dynbuf.h"
#include "proxy/inject.h"

#define SNIPPET "<b>S</b>"


static int collect(void *ud, const char *data, size_t n) {
  return st_dynbuf_append(ud, data, n);
}


/* Runs the injector over doc in pieces of step bytes (0: all at once)
 * and returns the output, which the caller frees. */
static char *inject(const char *doc, size_t step, size_t limit) {
  struct st_inject inj;
  struct st_dynbuf out;
  size_t n = strlen(doc);

  st_dynbuf_init(&out, 1 << 20);
  st_inject_init(&inj, SNIPPET, strlen(SNIPPET), limit);
  if (step == 0)
    step = n ? n : 1;
  for (size_t off = 0; off < n; off += step)
    st_inject_feed(&inj, doc + off, n - off < step ? n - off : step, collect,
                   &out);
  st_inject_finish(&inj, collect, &out);
  st_inject_cleanup(&inj);
  return st_dynbuf_take(&out, NULL);
}


static const struct {
  const char *doc;
  const char *expected;
} cases[] = {
  { "<html><body>x</body></html>",
    "<html><body>" SNIPPET "x</body></html>" },
  { "<HTML><BODY class=\"a\" onload='f()'>x",
    "<HTML><BODY class=\"a\" onload='f()'>" SNIPPET "x" },
  { "<body data-x=\"a>b\" id=c>x", "<body data-x=\"a>b\" id=c>" SNIPPET "x" },
  { "<!-- <body> --><body>x", "<!-- <body> --><body>" SNIPPET "x" },
  { "<script>var s = '<body>';</script><body>x",
    "<script>var s = '<body>';</script><body>" SNIPPET "x" },
  { "<script>if (a</b) {}</script ><body>x",
    "<script>if (a</b) {}</script ><body>" SNIPPET "x" },
  { "<style>p{}/*<body>*/</style><body>x",
    "<style>p{}/*<body>*/</style><body>" SNIPPET "x" },
  { "<title><body></title><body>x", "<title><body></title><body>" SNIPPET "x" },
  { "<textarea><body></textarea><body/>x",
    "<textarea><body></textarea><body/>" SNIPPET "x" },
  { "<!DOCTYPE html><bodyx><body\n>x",
    "<!DOCTYPE html><bodyx><body\n>" SNIPPET "x" },
  { "<div title=\"<body>\"></div><body>x",
    "<div title=\"<body>\"></div><body>" SNIPPET "x" },
  { "<html><p>no body tag</p></html>", "<html><p>no body tag</p></html>" },
  { "<!-- <body> -->", "<!-- <body> -->" },
  { "<script><body></script>", "<script><body></script>" },
  { "", "" },
  { "<body>a</body><body>b", "<body>" SNIPPET "a</body><body>b" },
};


TEST(inject_cases_whole_and_bytewise) {
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    for (size_t step = 0; step <= 1; step++) {
      char *out = inject(cases[i].doc, step, 1 << 16);
      ASSERT_STR_EQ(cases[i].expected, out);
      free(out);
    }
  }
}


TEST(inject_gives_up_past_limit) {
  char doc[200];
  char *out;

  memset(doc, 'a', 100);
  strcpy(doc + 100, "<body>x");
  out = inject(doc, 10, 64);
  ASSERT_STR_EQ(doc, out);  /* passed through unchanged */
  free(out);
  out = inject(doc, 10, 1024);
  ASSERT(strstr(out, "<body>" SNIPPET "x") != NULL);
  free(out);
}


int main(void) {
  RUN(inject_cases_whole_and_bytewise);
  RUN(inject_gives_up_past_limit);
  return TEST_EXIT();
}
