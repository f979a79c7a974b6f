/* stratosphere: an intercepting proxy that records web traffic into SQLite
 * and runs Lua extractors over it into a knowledge base. */
#include <sqlite3.h>

#include "cli/cli.h"


int main(int argc, char **argv) {
  /* SQLite's memory statistics take one process-wide mutex on every
   * allocation and free. With the pipeline's reader thread and its Lua
   * thread both in SQLite, perf put that mutex at 2% of `stratosphere
   * extract`. Nothing reads the statistics. This must run before SQLite
   * initializes, that is before any connection opens. */
  sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
  return st_cli_run(argc, argv);
}
