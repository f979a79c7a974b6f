/* The local certificate authority that signs the proxy's per-host
 * certificates.
 *
 * On disk, <data_dir>/ca/ contains the CA's private key (ca.key, PEM
 * PKCS#8, mode 0600) and its self-signed certificate (ca.pem). The key never
 * leaves that file: nothing here exports or serves it. In memory, the CA also
 * contains one ECDSA P-256 leaf key, generated at open and shared by every
 * leaf certificate, and an LRU cache of leaf certificates keyed by host.
 *
 * Not thread-safe. Call from the proxy loop thread only, or from a command
 * such as `stratosphere ca` that runs no loop. */
#ifndef ST_CA_H
#define ST_CA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* File names inside <data_dir>/ca/. */
#define ST_CA_DIR "ca"
#define ST_CA_KEY_FILE "ca.key"
#define ST_CA_CERT_FILE "ca.pem"

/* File names that st_ca_export() writes. The PKCS#12 file contains the
 * certificate only, no key, with an empty password. */
#define ST_CA_EXPORT_PEM "stratosphere-ca.pem"
#define ST_CA_EXPORT_DER "stratosphere-ca.cer"
#define ST_CA_EXPORT_P12 "stratosphere-ca.p12"

/* Default number of hosts whose leaf certificates stay cached. */
#define ST_CA_CACHE_DEFAULT 1024

/* Days a new CA certificate is valid, and days from notBefore to notAfter
 * of a leaf. Apple platforms reject TLS server certificates issued since
 * 1 September 2020 by their preinstalled roots when that span exceeds 398
 * days, and Apple recommends 397 at most (support.apple.com/102028). Roots
 * that a user installs are exempt, but leaves stay within the limit
 * anyway. */
#define ST_CA_VALID_DAYS 3650
#define ST_CA_LEAF_VALID_DAYS 397

/* Longest SHA-256 fingerprint text: 32 bytes as "AB:" plus the NUL. */
#define ST_CA_FINGERPRINT_LEN 96

struct st_ca;

struct st_ca_stats {
  uint64_t hits;       /* st_ca_leaf() calls served from the cache */
  uint64_t issued;     /* leaf certificates signed */
  uint64_t evicted;    /* cached certificates dropped to respect the bound */
  size_t cached;       /* certificates in the cache now */
};

/* Opens the CA in <data_dir>/ca/, creating the folder (mode 0700), a new
 * key and a new self-signed certificate when neither file exists. The key
 * file is created with mode 0600 under a temporary name and renamed into
 * place, so it is never readable by others, not even briefly. cache_max is
 * the number of hosts whose leaf certificates are kept (0 means
 * ST_CA_CACHE_DEFAULT).
 *
 * Returns 0 and sets *ca_out, which the caller frees with st_ca_free().
 * Returns ST_EINVAL when a file is corrupt, missing while the other one
 * exists, too open (key readable by group or others), expired, or when the
 * key does not match the certificate. Returns ST_EIO when the folder or a
 * file cannot be created or read. In each case err names the file and
 * what to do, for example deleting both files to generate a new CA. */
int st_ca_open(const char *data_dir, size_t cache_max, struct st_ca **ca_out,
               char *err, size_t errlen);

/* Frees the CA, its cache and the leaf key, and sets *ca to NULL. Accepts
 * NULL and a pointer to NULL. Borrowed pointers from the accessors below
 * become invalid. */
void st_ca_free(struct st_ca **ca);

/* Returns 1 when st_ca_open() generated this CA, 0 when it loaded it. */
int st_ca_created(const struct st_ca *ca);

/* Absolute path of the certificate file, <data_dir>/ca/ca.pem. */
const char *st_ca_cert_path(const struct st_ca *ca);

/* The CA certificate as PEM text and as DER bytes, for a page that serves
 * it. Both are owned by ca and stay valid until st_ca_free(). */
const char *st_ca_cert_pem(const struct st_ca *ca, size_t *len);
const unsigned char *st_ca_cert_der(const struct st_ca *ca, size_t *len);

/* The CA certificate, borrowed: valid until st_ca_free(). */
X509 *st_ca_cert(const struct st_ca *ca);

/* The SHA-256 fingerprint of the DER certificate as colon-separated
 * uppercase hex ("AB:CD:..."), the form browsers show. */
const char *st_ca_fingerprint(const struct st_ca *ca);

/* Sets the validity period of the CA certificate, in seconds since the
 * epoch (UTC). */
void st_ca_validity(const struct st_ca *ca, time_t *not_before,
                    time_t *not_after);

/* The private key of every leaf certificate, borrowed: valid until
 * st_ca_free(). */
EVP_PKEY *st_ca_leaf_key(const struct st_ca *ca);

/* Returns the cached leaf certificate for host, signing a new one on a
 * miss. host is an IPv4 or IPv6 literal, with or without brackets, or a
 * DNS name of at most 253 bytes made of letters, digits, '-', '_' and '.'.
 * Case and one trailing dot are ignored. A name of more than 64 bytes goes
 * only into subjectAltName because the subject CN is limited to 64.
 *
 * Returns 0 and sets *cert to a certificate owned by the cache: it stays
 * valid until the next st_ca_leaf() call, which may evict it, or
 * st_ca_free(). Take a reference with X509_up_ref() to keep it longer
 * (SSL_use_certificate() takes its own). Returns ST_EINVAL for an invalid
 * host, ST_ETLS when signing fails, ST_ENOMEM; err gets one line. */
int st_ca_leaf(struct st_ca *ca, const char *host, X509 **cert, char *err,
               size_t errlen);

/* Signs a new leaf certificate for host without touching the cache. Same
 * host rules and errors as st_ca_leaf(); the caller frees *cert_out with
 * X509_free(). */
int st_ca_issue(struct st_ca *ca, const char *host, X509 **cert_out,
                char *err, size_t errlen);

/* Fills stats with the cache counters. */
void st_ca_stats(const struct st_ca *ca, struct st_ca_stats *stats);

/* Writes the CA certificate into dir, which is created (mode 0755) when
 * missing: ST_CA_EXPORT_PEM (PEM), ST_CA_EXPORT_DER (DER) and
 * ST_CA_EXPORT_P12 (PKCS#12 with the certificate only, no key, empty
 * password). Existing files are replaced. Returns 0, ST_EIO or ST_ETLS with
 * one line in err naming the file. */
int st_ca_export(const struct st_ca *ca, const char *dir, char *err,
                 size_t errlen);

#endif
