/* Tests for st__proxy_is_self() in src/proxy/proxy.c: which upstream
 * addresses would connect back to the proxy's own listener. The table
 * follows what Linux does: 0.0.0.0 and :: as a destination mean loopback,
 * an IPv4-mapped IPv6 address reaches the IPv4 listener, a listener on
 * 0.0.0.0 accepts connections to every 127.x address, and one on :: to
 * IPv4 addresses too. */
#include <arpa/inet.h>

#include "test.h"

#include "proxy/internal.h"

static struct st_proxy proxy;


static void set_sockaddr(struct sockaddr_storage *ss, const char *ip,
                         int port) {
  memset(ss, 0, sizeof(*ss));
  if (uv_ip4_addr(ip, port, (struct sockaddr_in *)ss) != 0 &&
      uv_ip6_addr(ip, port, (struct sockaddr_in6 *)ss) != 0)
    fprintf(stderr, "invalid address in the test table: %s\n", ip);
}


static int is_self(const char *listener, const char *target, int port) {
  struct sockaddr_storage addr;

  set_sockaddr(&proxy.listen_addr, listener, 8080);
  set_sockaddr(&addr, target, port);
  return st__proxy_is_self(&proxy, (const struct sockaddr *)&addr);
}


TEST(proxy_self_address_table) {
  static const struct {
    const char *listener;
    const char *target;
    int self;
  } cases[] = {
    { "127.0.0.1", "127.0.0.1", 1 },
    { "127.0.0.1", "0.0.0.0", 1 },
    { "127.0.0.1", "::ffff:127.0.0.1", 1 },
    { "127.0.0.1", "::ffff:0.0.0.0", 1 },
    { "127.0.0.1", "127.0.0.2", 0 },
    { "127.0.0.1", "::1", 0 },
    { "127.0.0.1", "::", 0 },
    { "127.0.0.1", "10.1.2.3", 0 },
    { "0.0.0.0", "127.0.0.1", 1 },
    { "0.0.0.0", "127.1.2.3", 1 },
    { "0.0.0.0", "0.0.0.0", 1 },
    { "0.0.0.0", "::ffff:127.0.0.2", 1 },
    { "0.0.0.0", "::1", 0 },
    { "::1", "::1", 1 },
    { "::1", "::", 1 },
    { "::1", "127.0.0.1", 0 },
    { "::", "::1", 1 },
    { "::", "127.0.0.1", 1 },
    { "::", "0.0.0.0", 1 },
    { "::", "::ffff:127.0.0.9", 1 },
    { "127.0.0.2", "127.0.0.2", 1 },
    { "127.0.0.2", "0.0.0.0", 0 },
  };

  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int got = is_self(cases[i].listener, cases[i].target, 8080);
    if (got != cases[i].self)
      FAIL_AT("listener %s, target %s: expected %d, got %d",
              cases[i].listener, cases[i].target, cases[i].self, got);
  }
}


TEST(proxy_self_other_port) {
  ASSERT_INT_EQ(0, is_self("127.0.0.1", "127.0.0.1", 8081));
  ASSERT_INT_EQ(0, is_self("0.0.0.0", "0.0.0.0", 8081));
  ASSERT_INT_EQ(0, is_self("::", "::ffff:127.0.0.1", 8081));
}


/* A listener on every address also accepts connections to the machine's
 * other addresses, for example its LAN address. */
TEST(proxy_self_local_interface) {
  uv_interface_address_t *ifs = NULL;
  int count = 0;
  char ip[INET6_ADDRSTRLEN];
  int checked = 0;

  ASSERT_INT_EQ(0, uv_interface_addresses(&ifs, &count));
  for (int i = 0; i < count; i++) {
    if (ifs[i].address.address4.sin_family != AF_INET)
      continue;
    uv_ip4_name(&ifs[i].address.address4, ip, sizeof(ip));
    if (!is_self("0.0.0.0", ip, 8080))
      FAIL_AT("listener 0.0.0.0, local address %s: expected 1", ip);
    checked++;
  }
  uv_free_interface_addresses(ifs, count);
  ASSERT(checked > 0);
}


int main(void) {
  RUN(proxy_self_address_table);
  RUN(proxy_self_other_port);
  RUN(proxy_self_local_interface);
  return TEST_EXIT();
}
