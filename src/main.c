/* stratosphere: an intercepting proxy that records web traffic into SQLite
 * and runs Lua extractors over it into a knowledge base. */
#include "cli/cli.h"


int main(int argc, char **argv) {
  return st_cli_run(argc, argv);
}
