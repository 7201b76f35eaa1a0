/* What libssh 0.10 pays per user-key signature beyond the signature itself: pki_ed25519_sign builds an EVP_PKEY
 * from the raw private key on every call (EVP_PKEY_new_raw_private_key), which derives the public key again.
 * Prints the time per import and per signature with OpenSSL 3 as this machine has it.
 *   cc -O2 bench/floor/ed25519_import.c -lcrypto -o /tmp/ed25519_import && /tmp/ed25519_import */
#include <openssl/evp.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    enum { rounds = 10000 };
    unsigned char key[32] = {1, 2, 3}, message[100] = {0}, signature[64];
    double start = now();
    for (int i = 0; i < rounds; i++) {
        EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key, sizeof key);
        EVP_PKEY_free(pkey);
    }
    printf("EVP_PKEY_new_raw_private_key: %.1f us\n", (now() - start) / rounds * 1e6);
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key, sizeof key);
    start = now();
    for (int i = 0; i < rounds; i++) {
        EVP_MD_CTX *context = EVP_MD_CTX_new();
        size_t length = sizeof signature;
        EVP_DigestSignInit(context, NULL, NULL, NULL, pkey);
        EVP_DigestSign(context, signature, &length, message, sizeof message);
        EVP_MD_CTX_free(context);
    }
    printf("Ed25519 signature: %.1f us\n", (now() - start) / rounds * 1e6);
    EVP_PKEY_free(pkey);
    return 0;
}
