#include "cli/cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/config.h"
#include "cli/internal.h"
#include "cli/sample_file.h"
#include "util/err.h"
#include "util/time.h"

static const struct st_cli_option options[] = {
  { "since", 's', "DURATION", "only flows captured in the last DURATION "
                              "(90s, 10m, 2h, 1d)" },
  { "host", 0, "HOST", "only flows to this host (exact)" },
  { "url-prefix", 0, "PREFIX", "only flows whose URL starts with PREFIX" },
  { "probe", 'p', "FILE", "flows file to copy from (default: probe.db in "
                          "the data folder)" },
  { "force", 'f', NULL, "replace OUT.db when it exists" },
  { NULL, 0, NULL, NULL },
};


int st__cmd_sample_parse_duration(const char *text, double *seconds) {
  size_t digits = strspn(text, "0123456789.");
  char *end = NULL;
  double value, scale = 1;

  /* Plain decimal only: strtod would also take leading spaces, a sign,
   * hex ("0x10") and "inf". */
  if (digits == 0)
    return ST_EINVAL;
  value = strtod(text, &end);
  if (end != text + digits || !isfinite(value))
    return ST_EINVAL;
  switch (*end) {
  case '\0': case 's': scale = 1; break;
  case 'm': scale = 60; break;
  case 'h': scale = 3600; break;
  case 'd': scale = 86400; break;
  default: return ST_EINVAL;
  }
  if (*end != '\0' && end[1] != '\0')
    return ST_EINVAL;
  if (value * scale > ST_CONFIG_SECONDS_MAX)
    return ST_EINVAL;
  *seconds = value * scale;
  return 0;
}


static int cmd_sample(struct st_cli_args *args) {
  const char *since_text = st_cli_get(args, "since");
  struct st_sample_filter filter = { -1, NULL, NULL, NULL, NULL };
  struct st_sample_file *sample = NULL;
  char since[ST_TIME_LEN], err[ST_ERRLEN];
  const char *probe, *out;
  struct st_config cfg;
  int64_t copied = 0, max_rowid;
  int rc;

  if (args->positional_count != 1)
    return st_cli_usage_error(args, "give one OUT.db file to write");
  out = args->positional[0];
  if (since_text != NULL) {
    double seconds;

    if (st__cmd_sample_parse_duration(since_text, &seconds) != 0)
      return st_cli_usage_error(args, "invalid --since '%s'; give a "
                                "duration such as 90s, 10m, 2h or 1d",
                                since_text);
    st_time_format(st_time_now_us() - (int64_t)(seconds * 1e6), since);
    filter.since = since;
  }
  filter.host = st_cli_get(args, "host");
  filter.url_prefix = st_cli_get(args, "url-prefix");

  rc = st_cli_load_config(args, &cfg);
  if (rc != ST_EXIT_OK)
    goto out;
  probe = st_cli_get(args, "probe") ? st_cli_get(args, "probe")
                                    : cfg.probe_path;
  rc = st__cli_check_files(args, probe, NULL);
  if (rc != ST_EXIT_OK)
    goto out;
  rc = ST_EXIT_FAIL;
  if (st_sample_file_open(&sample, out, probe,
                          st_cli_get(args, "force") != NULL, err,
                          sizeof(err)) != 0 ||
      st_sample_file_copy(sample, &filter, &copied, &max_rowid, err,
                          sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere sample: %s\n", err);
    goto out;
  }
  if (copied == 0) {
    fprintf(stderr, "stratosphere sample: no flow in %s matches; nothing "
                    "saved\n", probe);
    goto out;
  }
  if (st_sample_file_close(&sample, 1, err, sizeof(err)) != 0) {
    fprintf(stderr, "stratosphere sample: %s\n", err);
    goto out;
  }
  printf("saved %lld flow%s to %s\n", (long long)copied,
         copied == 1 ? "" : "s", out);
  rc = ST_EXIT_OK;

out:
  st_sample_file_close(&sample, 0, NULL, 0);
  st_config_cleanup(&cfg);
  return rc;
}


const struct st_cli_command st_cli_cmd_sample = {
  "sample", "[--since DURATION] [--host HOST] [--url-prefix PREFIX] OUT.db",
  "save flows already recorded into a new sample file",
  options, cmd_sample, NULL,
};
