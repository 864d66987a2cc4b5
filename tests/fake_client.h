/* A plain HTTP client for tests that talk to a fake server directly
 * (its control routes, or a request the plugin under test never makes). */
#ifndef FLUE_TESTS_FAKE_CLIENT_H
#define FLUE_TESTS_FAKE_CLIENT_H

/* method url_root+path with body (NULL: none); the answer's body is the
 * caller's (free), *status its HTTP status.  A transport failure fails
 * the running Check test. */
char *fake_client_http(const char *url_root, const char *method,
                       const char *path, const char *body, long *status);

#endif
