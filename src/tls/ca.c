/* The local certificate authority: creating or loading the CA on disk,
 * signing per-host leaf certificates, caching them, and exporting the CA
 * certificate for installation in clients.
 *
 * The CA key is ECDSA P-256 rather than RSA-2048. Every browser and phone
 * that supports TLS 1.2 accepts P-256 roots, and an ECDSA P-256 signature
 * costs tens of microseconds where an RSA-2048 one costs about a
 * millisecond, which matters when every new host needs a fresh leaf. A CA
 * that a user installs by hand in <data_dir>/ca/ may use any key type that
 * OpenSSL can sign with. */
#include "tls/ca.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "tls/internal.h"
#include "util/alloc.h"
#include "util/err.h"

#define SECONDS_PER_DAY 86400

/* Certificates start to be valid one day before they are made, so a client
 * whose clock runs behind still accepts them. */
#define BACKDATE_SECONDS SECONDS_PER_DAY

/* Maximum size of a key or certificate file read; real ones are a few
 * KiB. */
#define FILE_MAX (1024 * 1024)

/* Maximum length of a subject CN, the X.520 upper bound ub-common-name. */
#define CN_MAX 64

/* One cached leaf certificate. Entries sit in a hash bucket chain and in a
 * doubly linked list ordered from most to least recently used. */
struct leaf_entry {
  char *host;
  X509 *cert;
  struct leaf_entry *bucket_next;
  struct leaf_entry *lru_prev;
  struct leaf_entry *lru_next;
};

/* Extensions that are the same in every leaf, built once at open. */
enum {
  LEAF_EXT_BASIC,
  LEAF_EXT_KEY_USAGE,
  LEAF_EXT_EXT_KEY_USAGE,
  LEAF_EXT_SKI,
  LEAF_EXT_AKI,
  LEAF_EXT_COUNT,
};

struct st_ca {
  EVP_PKEY *key;
  X509 *cert;
  EVP_PKEY *leaf_key;
  X509_EXTENSION *leaf_exts[LEAF_EXT_COUNT];
  const EVP_MD *sign_md;  /* NULL for key types that hash internally */
  time_t not_before;
  time_t not_after;
  int created;
  char *cert_path;
  char *pem;
  size_t pem_len;
  unsigned char *der;
  size_t der_len;
  char fingerprint[ST_CA_FINGERPRINT_LEN];

  /* Leaf cache: bucket_count is a power of two, at least twice cache_max,
   * so chains stay short. */
  struct leaf_entry **buckets;
  size_t bucket_count;
  size_t cache_max;
  struct leaf_entry *lru_head;
  struct leaf_entry *lru_tail;
  struct st_ca_stats stats;
};


int st__tls_error(char *err, size_t errlen, int code, const char *fmt, ...) {
  unsigned long e = ERR_get_error();
  const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;
  va_list ap;
  size_t used;

  ERR_clear_error();
  if (err == NULL || errlen == 0)
    return code;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  used = strlen(err);
  if (reason != NULL && used + 2 < errlen)
    snprintf(err + used, errlen - used, ": %s", reason);
  return code;
}


/* Copies up to 64 bytes of an untrusted host into out for an error
 * message, replacing bytes that are not printable ASCII with '?'. */
static const char *printable_host(const char *host, char *out,
                                  size_t outlen) {
  size_t i = 0;

  for (; host[i] != '\0' && i + 1 < outlen && i < 64; i++) {
    unsigned char c = (unsigned char)host[i];
    out[i] = c > 0x20 && c < 0x7f ? (char)c : '?';
  }
  out[i] = '\0';
  return out;
}


int st__ca_normalize_host(const char *host, char *out, int *kind, char *err,
                          size_t errlen) {
  char shown[80];
  unsigned char addr[16];
  size_t len = strlen(host);

  if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
    host++;
    len -= 2;
  }
  if (len == 0)
    return st_seterr(err, errlen, ST_EINVAL, "host is empty");
  if (len >= ST__HOST_BUF)
    return st_seterr(err, errlen, ST_EINVAL,
                     "host \"%s...\" is longer than 253 bytes",
                     printable_host(host, shown, sizeof(shown)));
  memcpy(out, host, len);
  out[len] = '\0';

  if (inet_pton(AF_INET, out, addr) == 1) {
    *kind = ST__HOST_IPV4;
    inet_ntop(AF_INET, addr, out, ST__HOST_BUF);
    return 0;
  }
  if (inet_pton(AF_INET6, out, addr) == 1) {
    *kind = ST__HOST_IPV6;
    inet_ntop(AF_INET6, addr, out, ST__HOST_BUF);
    return 0;
  }

  if (out[len - 1] == '.')
    out[--len] = '\0';
  if (len == 0 || len > 253 || out[0] == '.')
    return st_seterr(err, errlen, ST_EINVAL, "invalid host \"%s\"",
                     printable_host(host, shown, sizeof(shown)));
  for (size_t i = 0; i < len; i++) {
    char c = out[i];
    if (c >= 'A' && c <= 'Z') {
      out[i] = (char)(c - 'A' + 'a');
    } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.')) {
      return st_seterr(err, errlen, ST_EINVAL,
                       "invalid host \"%s\": only letters, digits, '-', "
                       "'_' and '.' are allowed",
                       printable_host(host, shown, sizeof(shown)));
    }
  }
  *kind = ST__HOST_NAME;
  return 0;
}


/* ---- files ---- */


static char *join_path(const char *dir, const char *name) {
  size_t dlen = strlen(dir), nlen = strlen(name);
  char *path = st_malloc(dlen + 1 + nlen + 1);

  if (path == NULL)
    return NULL;
  memcpy(path, dir, dlen);
  path[dlen] = '/';
  memcpy(path + dlen + 1, name, nlen + 1);
  return path;
}


/* Creates dir and its missing parents with mode. */
static int make_dirs(const char *dir, mode_t mode, char *err,
                     size_t errlen) {
  char path[4096];
  size_t len = strlen(dir);

  if (len == 0 || len >= sizeof(path))
    return st_seterr(err, errlen, ST_EINVAL, "invalid folder \"%s\"", dir);
  memcpy(path, dir, len + 1);
  for (size_t i = 1; i <= len; i++) {
    if (path[i] != '/' && path[i] != '\0')
      continue;
    path[i] = '\0';
    if (mkdir(path, mode) != 0 && errno != EEXIST)
      return st_seterr(err, errlen, ST_EIO, "cannot create folder %s: %s",
                       path, strerror(errno));
    path[i] = i == len ? '\0' : '/';
  }
  return 0;
}


/* Writes data to path through a temporary file created with mode, then
 * renames it into place, so readers never see a partial file and the
 * final file never has a wider mode than requested. */
static int write_file(const char *path, const void *data, size_t len,
                      mode_t mode, char *err, size_t errlen) {
  char tmp[4096];
  const char *p = data;
  int fd;

  if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", path,
                       (long)getpid()) >= sizeof(tmp))
    return st_seterr(err, errlen, ST_EINVAL, "path too long: %s", path);
  unlink(tmp);
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0)
    return st_seterr(err, errlen, ST_EIO, "cannot create %s: %s", tmp,
                     strerror(errno));
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      goto fail;
    p += n;
    len -= (size_t)n;
  }
  if (fsync(fd) != 0)
    goto fail;
  if (close(fd) != 0) {
    fd = -1;
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    fd = -1;
    goto fail;
  }
  return 0;

fail:
  st_seterr(err, errlen, ST_EIO, "cannot write %s: %s", path,
            strerror(errno));
  if (fd >= 0)
    close(fd);
  unlink(tmp);
  return ST_EIO;
}


/* Reads a whole file of at most FILE_MAX bytes into a BIO. With
 * private set, rejects a file that others than its owner may access. */
static int read_file_bio(const char *path, int private, BIO **out,
                         char *err, size_t errlen) {
  struct stat st;
  char *buf = NULL;
  size_t used = 0;
  int fd, rc = ST_EIO;

  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return st_seterr(err, errlen, ST_EIO, "cannot open %s: %s", path,
                     strerror(errno));
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rc = st_seterr(err, errlen, ST_EINVAL, "%s is not a regular file",
                   path);
    goto out;
  }
  if (private && (st.st_mode & 077) != 0) {
    rc = st_seterr(err, errlen, ST_EINVAL,
                   "%s is accessible by other users (mode %04o); run "
                   "'chmod 600 %s'", path, (unsigned)(st.st_mode & 07777),
                   path);
    goto out;
  }
  if (st.st_size > FILE_MAX) {
    rc = st_seterr(err, errlen, ST_EINVAL, "%s is larger than %d bytes",
                   path, FILE_MAX);
    goto out;
  }
  buf = st_malloc((size_t)st.st_size + 1);
  if (buf == NULL) {
    rc = st_seterr(err, errlen, ST_ENOMEM, "out of memory reading %s", path);
    goto out;
  }
  while (used < (size_t)st.st_size) {
    ssize_t n = read(fd, buf + used, (size_t)st.st_size - used);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = st_seterr(err, errlen, ST_EIO, "cannot read %s: %s", path,
                     strerror(errno));
      goto out;
    }
    if (n == 0)
      break;
    used += (size_t)n;
  }

  /* BIO_new_mem_buf() would borrow buf; write a copy so buf can be wiped
   * and freed here. */
  *out = BIO_new(BIO_s_mem());
  if (*out == NULL || BIO_write(*out, buf, (int)used) != (int)used) {
    BIO_free(*out);
    *out = NULL;
    rc = st__tls_error(err, errlen, ST_ENOMEM, "cannot buffer %s", path);
    goto out;
  }
  rc = 0;

out:
  if (buf != NULL)
    OPENSSL_cleanse(buf, used);
  st_free(buf);
  close(fd);
  return rc;
}


/* Returns no passphrase, because the CA key must be unencrypted and
 * OpenSSL's default callback would prompt on the terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata) {
  return -1;
}


/* ---- building certificates ---- */


/* Sets a random positive 128-bit serial number, as RFC 5280 section 4.1.2.2
 * allows up to 20 bytes and CAs must not reuse serials. */
static int set_random_serial(X509 *cert) {
  unsigned char bytes[16];
  BIGNUM *bn;
  int ok;

  if (RAND_bytes(bytes, sizeof(bytes)) != 1)
    return 0;
  /* A first byte from 1 to 127 keeps the DER integer positive and exactly
   * 16 bytes long. */
  bytes[0] &= 0x7f;
  bytes[0] |= 0x01;
  bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
  if (bn == NULL)
    return 0;
  ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
  BN_free(bn);
  return ok;
}


static int add_name_entry(X509_NAME *name, int nid, const char *value) {
  return X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
                                    (const unsigned char *)value, -1, -1,
                                    0);
}


/* Adds an extension from its OpenSSL configuration text, with ctx naming
 * the issuer and subject certificates for key identifiers. */
static int add_conf_ext(X509 *cert, X509V3_CTX *ctx, int nid,
                        const char *value) {
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
  int ok;

  if (ext == NULL)
    return 0;
  ok = X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return ok;
}


/* Builds the self-signed CA certificate for key. Its subject names
 * stratosphere, this machine and the creation date, so a user can tell two
 * generated CAs apart in a browser's certificate list. */
static X509 *new_ca_cert(EVP_PKEY *key) {
  char host[256] = "localhost";
  char date[16], cn[CN_MAX + 16];
  time_t now = time(NULL);
  struct tm tm;
  X509V3_CTX ctx;
  X509_NAME *name;
  X509 *cert = X509_new();

  if (cert == NULL)
    return NULL;
  if (gethostname(host, sizeof(host) - 1) != 0)
    strcpy(host, "localhost");
  host[sizeof(host) - 1] = '\0';
  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%Y-%m-%d", &tm);
  /* "stratosphere CA " (16) + host (at most 37) + " " + date (10) = 64,
   * the CN maximum. */
  snprintf(cn, sizeof(cn), "stratosphere CA %.37s %.10s", host, date);

  name = X509_get_subject_name(cert);
  if (!X509_set_version(cert, X509_VERSION_3) || !set_random_serial(cert) ||
      X509_gmtime_adj(X509_getm_notBefore(cert), -BACKDATE_SECONDS) ==
          NULL ||
      X509_gmtime_adj(X509_getm_notAfter(cert),
                      (long)ST_CA_VALID_DAYS * SECONDS_PER_DAY) == NULL ||
      !add_name_entry(name, NID_organizationName, "stratosphere") ||
      !add_name_entry(name, NID_commonName, cn) ||
      !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key))
    goto fail;

  X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
  /* pathlen:0 lets the CA sign leaf certificates only. */
  if (!add_conf_ext(cert, &ctx, NID_basic_constraints,
                    "critical,CA:TRUE,pathlen:0") ||
      !add_conf_ext(cert, &ctx, NID_key_usage,
                    "critical,keyCertSign,cRLSign") ||
      !add_conf_ext(cert, &ctx, NID_subject_key_identifier, "hash") ||
      !add_conf_ext(cert, &ctx, NID_authority_key_identifier,
                    "keyid:always"))
    goto fail;
  if (X509_sign(cert, key, EVP_sha256()) <= 0)
    goto fail;
  return cert;

fail:
  X509_free(cert);
  return NULL;
}


/* Builds the extensions shared by every leaf. The subject key identifier
 * needs a certificate carrying the leaf key, so a throwaway one is made. */
static int build_leaf_exts(struct st_ca *ca) {
  static const struct {
    int nid;
    const char *value;
  } conf[LEAF_EXT_COUNT] = {
    [LEAF_EXT_BASIC] = { NID_basic_constraints, "critical,CA:FALSE" },
    [LEAF_EXT_KEY_USAGE] = { NID_key_usage, "critical,digitalSignature" },
    [LEAF_EXT_EXT_KEY_USAGE] = { NID_ext_key_usage, "serverAuth" },
    [LEAF_EXT_SKI] = { NID_subject_key_identifier, "hash" },
    [LEAF_EXT_AKI] = { NID_authority_key_identifier, "keyid:always" },
  };
  X509V3_CTX ctx;
  X509 *subject = X509_new();
  int ok = 0;

  if (subject == NULL || !X509_set_pubkey(subject, ca->leaf_key))
    goto out;
  X509V3_set_ctx(&ctx, ca->cert, subject, NULL, NULL, 0);
  for (int i = 0; i < LEAF_EXT_COUNT; i++) {
    ca->leaf_exts[i] = X509V3_EXT_conf_nid(NULL, &ctx, conf[i].nid,
                                           conf[i].value);
    if (ca->leaf_exts[i] == NULL)
      goto out;
  }
  ok = 1;

out:
  X509_free(subject);
  return ok;
}


/* Builds subjectAltName with one DNS name or one IP address. */
static int add_san(X509 *cert, const char *host, int kind) {
  GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME *gn = GENERAL_NAME_new();
  int ok = 0;

  if (names == NULL || gn == NULL)
    goto out;
  if (kind == ST__HOST_NAME) {
    ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
    if (dns == NULL || !ASN1_STRING_set(dns, host, -1)) {
      ASN1_IA5STRING_free(dns);
      goto out;
    }
    GENERAL_NAME_set0_value(gn, GEN_DNS, dns);
  } else {
    ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
    if (ip == NULL)
      goto out;
    GENERAL_NAME_set0_value(gn, GEN_IPADD, ip);
  }
  if (!sk_GENERAL_NAME_push(names, gn))
    goto out;
  gn = NULL;  /* owned by names now */
  ok = X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 0,
                         X509V3_ADD_DEFAULT) == 1;

out:
  GENERAL_NAME_free(gn);
  GENERAL_NAMES_free(names);
  return ok;
}


/* Signs a leaf for a normalized host. Its validity ends
 * ST_CA_LEAF_VALID_DAYS after its backdated start, or when the CA expires
 * if that is sooner. */
static int issue_normalized(struct st_ca *ca, const char *host, int kind,
                            X509 **cert_out, char *err, size_t errlen) {
  time_t now = time(NULL);
  time_t end = now - BACKDATE_SECONDS +
               (time_t)ST_CA_LEAF_VALID_DAYS * SECONDS_PER_DAY;
  X509 *cert = X509_new();
  X509_NAME *name;

  if (cert == NULL)
    return st__tls_error(err, errlen, ST_ENOMEM, "creating the "
                         "certificate for %s failed", host);
  if (end > ca->not_after)
    end = ca->not_after;

  /* A CN longer than 64 bytes is invalid, and clients match names against
   * subjectAltName anyway, so a long name goes there only. */
  name = X509_get_subject_name(cert);
  if (!X509_set_version(cert, X509_VERSION_3) || !set_random_serial(cert) ||
      X509_time_adj_ex(X509_getm_notBefore(cert), 0, -BACKDATE_SECONDS,
                       &now) == NULL ||
      ASN1_TIME_set(X509_getm_notAfter(cert), end) == NULL ||
      !add_name_entry(name, NID_organizationName, "stratosphere") ||
      (strlen(host) <= CN_MAX &&
       !add_name_entry(name, NID_commonName, host)) ||
      !X509_set_issuer_name(cert, X509_get_subject_name(ca->cert)) ||
      !X509_set_pubkey(cert, ca->leaf_key) || !add_san(cert, host, kind))
    goto fail;
  for (int i = 0; i < LEAF_EXT_COUNT; i++) {
    if (!X509_add_ext(cert, ca->leaf_exts[i], -1))
      goto fail;
  }
  if (X509_sign(cert, ca->key, ca->sign_md) <= 0)
    goto fail;

  ca->stats.issued++;
  *cert_out = cert;
  return 0;

fail:
  X509_free(cert);
  return st__tls_error(err, errlen, ST_ETLS, "signing the certificate for "
                       "%s failed", host);
}


int st_ca_issue(struct st_ca *ca, const char *host, X509 **cert_out,
                char *err, size_t errlen) {
  char norm[ST__HOST_BUF];
  int kind;
  int rc = st__ca_normalize_host(host, norm, &kind, err, errlen);

  if (rc != 0)
    return rc;
  return issue_normalized(ca, norm, kind, cert_out, err, errlen);
}


/* Generates the leaf key as a legacy EC_KEY on purpose. OpenSSL 3.0 runs
 * X509_set_pubkey() for a provider key through its encoder and decoder,
 * but encodes a legacy key's public key directly. With a provider key,
 * leaf_issue_timing in tests/c/test_ca.c measured about 190 us per leaf on
 * a 2-core x86-64 VM, and 45 us with a legacy key. The EC_KEY functions
 * are deprecated in OpenSSL 3.0 but still supported. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static EVP_PKEY *new_leaf_key(void) {
  EC_KEY *ec = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  EVP_PKEY *key = EVP_PKEY_new();

  if (ec == NULL || key == NULL || EC_KEY_generate_key(ec) != 1 ||
      EVP_PKEY_assign_EC_KEY(key, ec) != 1) {
    EC_KEY_free(ec);
    EVP_PKEY_free(key);
    return NULL;
  }
  return key;  /* key owns ec now */
}
#pragma GCC diagnostic pop


/* ---- opening ---- */


static int tm_from_asn1(const ASN1_TIME *t, time_t *out) {
  struct tm tm;

  if (ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  *out = timegm(&tm);
  return 1;
}


/* Fills the in-memory copies of the certificate: DER, PEM, fingerprint and
 * validity. */
static int cache_cert_forms(struct st_ca *ca, char *err, size_t errlen) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  unsigned char *der = NULL;
  BIO *bio = NULL;
  char *pem_data;
  long pem_len;
  int der_len;

  der_len = i2d_X509(ca->cert, &der);
  if (der_len <= 0)
    return st__tls_error(err, errlen, ST_ETLS, "encoding %s failed",
                         ca->cert_path);
  ca->der = st_malloc((size_t)der_len);
  if (ca->der == NULL) {
    OPENSSL_free(der);
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");
  }
  memcpy(ca->der, der, (size_t)der_len);
  ca->der_len = (size_t)der_len;
  OPENSSL_free(der);

  bio = BIO_new(BIO_s_mem());
  if (bio == NULL || !PEM_write_bio_X509(bio, ca->cert)) {
    BIO_free(bio);
    return st__tls_error(err, errlen, ST_ETLS, "encoding %s failed",
                         ca->cert_path);
  }
  pem_len = BIO_get_mem_data(bio, &pem_data);
  ca->pem = st_strndup(pem_data, (size_t)pem_len);
  ca->pem_len = (size_t)pem_len;
  BIO_free(bio);
  if (ca->pem == NULL)
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory");

  if (!X509_digest(ca->cert, EVP_sha256(), md, &md_len))
    return st__tls_error(err, errlen, ST_ETLS, "hashing %s failed",
                         ca->cert_path);
  for (unsigned int i = 0; i < md_len; i++)
    snprintf(ca->fingerprint + 3 * i, 4, i + 1 < md_len ? "%02X:" : "%02X",
             md[i]);

  if (!tm_from_asn1(X509_get0_notBefore(ca->cert), &ca->not_before) ||
      !tm_from_asn1(X509_get0_notAfter(ca->cert), &ca->not_after))
    return st__tls_error(err, errlen, ST_EINVAL, "%s has an invalid "
                         "validity period", ca->cert_path);
  return 0;
}


/* Generates a key and certificate and writes both files. */
static int create_ca(struct st_ca *ca, const char *key_path, char *err,
                     size_t errlen) {
  BIO *bio = NULL;
  char *data;
  long len;
  int rc;

  ca->key = EVP_EC_gen("P-256");
  if (ca->key == NULL)
    return st__tls_error(err, errlen, ST_ETLS, "generating the CA key "
                         "failed");
  ca->cert = new_ca_cert(ca->key);
  if (ca->cert == NULL)
    return st__tls_error(err, errlen, ST_ETLS, "creating the CA "
                         "certificate failed");

  bio = BIO_new(BIO_s_mem());
  if (bio == NULL ||
      !PEM_write_bio_PrivateKey(bio, ca->key, NULL, NULL, 0, NULL, NULL)) {
    BIO_free(bio);
    return st__tls_error(err, errlen, ST_ETLS, "encoding the CA key "
                         "failed");
  }
  len = BIO_get_mem_data(bio, &data);
  rc = write_file(key_path, data, (size_t)len, 0600, err, errlen);
  BIO_free(bio);  /* BUF_MEM_free() cleanses the key's buffer */
  if (rc != 0)
    return rc;

  bio = BIO_new(BIO_s_mem());
  if (bio == NULL || !PEM_write_bio_X509(bio, ca->cert)) {
    BIO_free(bio);
    return st__tls_error(err, errlen, ST_ETLS, "encoding the CA "
                         "certificate failed");
  }
  len = BIO_get_mem_data(bio, &data);
  rc = write_file(ca->cert_path, data, (size_t)len, 0644, err, errlen);
  BIO_free(bio);
  if (rc != 0) {
    /* A key without its certificate would block the next start. */
    unlink(key_path);
    return rc;
  }
  ca->created = 1;
  return 0;
}


/* Returns the reason of the oldest error in the OpenSSL queue and clears
 * the queue. */
static const char *take_ssl_reason(void) {
  unsigned long e = ERR_get_error();
  const char *reason = e != 0 ? ERR_reason_error_string(e) : NULL;

  ERR_clear_error();
  return reason != NULL ? reason : "unknown reason";
}


/* Loads and checks both files. Every error names the file and asks the
 * user to delete both files to generate a new CA. */
static int load_ca(struct st_ca *ca, const char *dir, const char *key_path,
                   char *err, size_t errlen) {
  char fix[300];
  BIO *bio = NULL;
  int rc;

  snprintf(fix, sizeof(fix), "delete " ST_CA_KEY_FILE " and "
           ST_CA_CERT_FILE " in %s to generate a new CA", dir);

  rc = read_file_bio(key_path, 1, &bio, err, errlen);
  if (rc != 0)
    return rc;
  ca->key = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  if (ca->key == NULL)
    return st_seterr(err, errlen, ST_EINVAL, "%s: not an unencrypted PEM "
                     "private key (OpenSSL: %s); %s", key_path,
                     take_ssl_reason(), fix);

  rc = read_file_bio(ca->cert_path, 0, &bio, err, errlen);
  if (rc != 0)
    return rc;
  ca->cert = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL);
  BIO_free(bio);
  if (ca->cert == NULL)
    return st_seterr(err, errlen, ST_EINVAL, "%s: not a PEM certificate "
                     "(OpenSSL: %s); %s", ca->cert_path, take_ssl_reason(),
                     fix);

  if (X509_check_private_key(ca->cert, ca->key) != 1) {
    ERR_clear_error();
    return st_seterr(err, errlen, ST_EINVAL, "%s does not match the "
                     "certificate in " ST_CA_CERT_FILE "; %s", key_path,
                     fix);
  }
  if (X509_check_ca(ca->cert) == 0)
    return st_seterr(err, errlen, ST_EINVAL, "%s is not a CA certificate; "
                     "%s", ca->cert_path, fix);
  if (X509_cmp_current_time(X509_get0_notAfter(ca->cert)) <= 0)
    return st_seterr(err, errlen, ST_EINVAL, "%s has expired; %s",
                     ca->cert_path, fix);
  return 0;
}


int st_ca_open(const char *data_dir, size_t cache_max, struct st_ca **ca_out,
               char *err, size_t errlen) {
  struct st_ca *ca = NULL;
  char *dir = NULL, *key_path = NULL;
  struct stat st;
  int have_key, have_cert, rc;

  ca = st_calloc(1, sizeof(*ca));
  dir = join_path(data_dir, ST_CA_DIR);
  if (ca == NULL || dir == NULL)
    goto nomem;
  key_path = join_path(dir, ST_CA_KEY_FILE);
  ca->cert_path = join_path(dir, ST_CA_CERT_FILE);
  if (key_path == NULL || ca->cert_path == NULL)
    goto nomem;

  rc = make_dirs(dir, 0700, err, errlen);
  if (rc != 0)
    goto out;

  have_key = lstat(key_path, &st) == 0;
  have_cert = lstat(ca->cert_path, &st) == 0;
  if (!have_key && !have_cert) {
    rc = create_ca(ca, key_path, err, errlen);
  } else if (!have_key) {
    rc = st_seterr(err, errlen, ST_EINVAL, "%s is missing but %s exists; "
                   "restore the key, or delete %s to generate a new CA",
                   key_path, ca->cert_path, ca->cert_path);
  } else if (!have_cert) {
    rc = st_seterr(err, errlen, ST_EINVAL, "%s is missing but %s exists; "
                   "restore the certificate, or delete %s to generate a "
                   "new CA", ca->cert_path, key_path, key_path);
  } else {
    rc = load_ca(ca, dir, key_path, err, errlen);
  }
  if (rc != 0)
    goto out;

  rc = cache_cert_forms(ca, err, errlen);
  if (rc != 0)
    goto out;

  /* Ed25519 and Ed448 keys sign the message itself and take no digest. */
  switch (EVP_PKEY_get_base_id(ca->key)) {
  case EVP_PKEY_ED25519:
  case EVP_PKEY_ED448:
    ca->sign_md = NULL;
    break;
  default:
    ca->sign_md = EVP_sha256();
    break;
  }

  ca->leaf_key = new_leaf_key();
  if (ca->leaf_key == NULL || !build_leaf_exts(ca)) {
    rc = st__tls_error(err, errlen, ST_ETLS, "preparing leaf certificates "
                       "failed");
    goto out;
  }

  ca->cache_max = cache_max > 0 ? cache_max : ST_CA_CACHE_DEFAULT;
  ca->bucket_count = 16;
  while (ca->bucket_count < 2 * ca->cache_max)
    ca->bucket_count *= 2;
  ca->buckets = st_calloc(ca->bucket_count, sizeof(*ca->buckets));
  if (ca->buckets == NULL)
    goto nomem;

  *ca_out = ca;
  ca = NULL;
  rc = 0;
  goto out;

nomem:
  rc = st_seterr(err, errlen, ST_ENOMEM, "out of memory opening the CA");
out:
  st_ca_free(&ca);
  st_free(key_path);
  st_free(dir);
  return rc;
}


void st_ca_free(struct st_ca **cap) {
  struct st_ca *ca = cap != NULL ? *cap : NULL;

  if (ca == NULL)
    return;
  for (struct leaf_entry *e = ca->lru_head, *next; e != NULL; e = next) {
    next = e->lru_next;
    X509_free(e->cert);
    st_free(e->host);
    st_free(e);
  }
  st_free(ca->buckets);
  for (int i = 0; i < LEAF_EXT_COUNT; i++)
    X509_EXTENSION_free(ca->leaf_exts[i]);
  EVP_PKEY_free(ca->leaf_key);
  EVP_PKEY_free(ca->key);
  X509_free(ca->cert);
  st_free(ca->cert_path);
  st_free(ca->pem);
  st_free(ca->der);
  st_free(ca);
  *cap = NULL;
}


/* ---- accessors ---- */


int st_ca_created(const struct st_ca *ca) {
  return ca->created;
}


const char *st_ca_cert_path(const struct st_ca *ca) {
  return ca->cert_path;
}


const char *st_ca_cert_pem(const struct st_ca *ca, size_t *len) {
  *len = ca->pem_len;
  return ca->pem;
}


const unsigned char *st_ca_cert_der(const struct st_ca *ca, size_t *len) {
  *len = ca->der_len;
  return ca->der;
}


X509 *st_ca_cert(const struct st_ca *ca) {
  return ca->cert;
}


const char *st_ca_fingerprint(const struct st_ca *ca) {
  return ca->fingerprint;
}


void st_ca_validity(const struct st_ca *ca, time_t *not_before,
                    time_t *not_after) {
  *not_before = ca->not_before;
  *not_after = ca->not_after;
}


EVP_PKEY *st_ca_leaf_key(const struct st_ca *ca) {
  return ca->leaf_key;
}


void st_ca_stats(const struct st_ca *ca, struct st_ca_stats *stats) {
  *stats = ca->stats;
}


/* ---- leaf cache ---- */


/* FNV-1a over the normalized host. */
static size_t hash_host(const char *host) {
  uint64_t h = 14695981039346656037ULL;

  for (const unsigned char *p = (const unsigned char *)host; *p; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return (size_t)h;
}


static void lru_unlink(struct st_ca *ca, struct leaf_entry *e) {
  if (e->lru_prev != NULL)
    e->lru_prev->lru_next = e->lru_next;
  else
    ca->lru_head = e->lru_next;
  if (e->lru_next != NULL)
    e->lru_next->lru_prev = e->lru_prev;
  else
    ca->lru_tail = e->lru_prev;
  e->lru_prev = e->lru_next = NULL;
}


static void lru_push_front(struct st_ca *ca, struct leaf_entry *e) {
  e->lru_prev = NULL;
  e->lru_next = ca->lru_head;
  if (ca->lru_head != NULL)
    ca->lru_head->lru_prev = e;
  ca->lru_head = e;
  if (ca->lru_tail == NULL)
    ca->lru_tail = e;
}


/* Drops the least recently used entry. */
static void evict_oldest(struct st_ca *ca) {
  struct leaf_entry *e = ca->lru_tail;
  struct leaf_entry **link;

  link = &ca->buckets[hash_host(e->host) & (ca->bucket_count - 1)];
  while (*link != e)
    link = &(*link)->bucket_next;
  *link = e->bucket_next;
  lru_unlink(ca, e);
  X509_free(e->cert);
  st_free(e->host);
  st_free(e);
  ca->stats.cached--;
  ca->stats.evicted++;
}


int st_ca_leaf(struct st_ca *ca, const char *host, X509 **cert, char *err,
               size_t errlen) {
  char norm[ST__HOST_BUF];
  struct leaf_entry *e;
  size_t bucket;
  int kind, rc;

  rc = st__ca_normalize_host(host, norm, &kind, err, errlen);
  if (rc != 0)
    return rc;

  bucket = hash_host(norm) & (ca->bucket_count - 1);
  for (e = ca->buckets[bucket]; e != NULL; e = e->bucket_next) {
    if (strcmp(e->host, norm) == 0) {
      lru_unlink(ca, e);
      lru_push_front(ca, e);
      ca->stats.hits++;
      *cert = e->cert;
      return 0;
    }
  }

  e = st_calloc(1, sizeof(*e));
  if (e == NULL || (e->host = st_strdup(norm)) == NULL) {
    st_free(e);
    return st_seterr(err, errlen, ST_ENOMEM, "out of memory caching the "
                     "certificate for %s", norm);
  }
  rc = issue_normalized(ca, norm, kind, &e->cert, err, errlen);
  if (rc != 0) {
    st_free(e->host);
    st_free(e);
    return rc;
  }

  if (ca->stats.cached >= ca->cache_max)
    evict_oldest(ca);
  e->bucket_next = ca->buckets[bucket];
  ca->buckets[bucket] = e;
  lru_push_front(ca, e);
  ca->stats.cached++;
  *cert = e->cert;
  return 0;
}


/* ---- export ---- */


static int export_p12(const struct st_ca *ca, const char *path, char *err,
                      size_t errlen) {
  unsigned char *der = NULL;
  PKCS12 *p12;
  int len, rc;

  /* No key, and the certificate bag unencrypted (nid_cert -1): the file
   * contains public data only. The empty password still keys the MAC. */
  p12 = PKCS12_create("", "stratosphere CA", NULL, ca->cert, NULL, 0, -1,
                      0, 0, 0);
  if (p12 == NULL)
    return st__tls_error(err, errlen, ST_ETLS, "building %s failed", path);
  len = i2d_PKCS12(p12, &der);
  PKCS12_free(p12);
  if (len <= 0)
    return st__tls_error(err, errlen, ST_ETLS, "encoding %s failed", path);
  rc = write_file(path, der, (size_t)len, 0644, err, errlen);
  OPENSSL_free(der);
  return rc;
}


int st_ca_export(const struct st_ca *ca, const char *dir, char *err,
                 size_t errlen) {
  char *pem_path = join_path(dir, ST_CA_EXPORT_PEM);
  char *der_path = join_path(dir, ST_CA_EXPORT_DER);
  char *p12_path = join_path(dir, ST_CA_EXPORT_P12);
  int rc;

  if (pem_path == NULL || der_path == NULL || p12_path == NULL) {
    rc = st_seterr(err, errlen, ST_ENOMEM, "out of memory");
    goto out;
  }
  rc = make_dirs(dir, 0755, err, errlen);
  if (rc == 0)
    rc = write_file(pem_path, ca->pem, ca->pem_len, 0644, err, errlen);
  if (rc == 0)
    rc = write_file(der_path, ca->der, ca->der_len, 0644, err, errlen);
  if (rc == 0)
    rc = export_p12(ca, p12_path, err, errlen);

out:
  st_free(pem_path);
  st_free(der_path);
  st_free(p12_path);
  return rc;
}
