/* Configuration hook used by every test build (CAPHEAP_CONFIG_HEADER). */
#ifndef CAPHEAP_TEST_CONFIG_H
#define CAPHEAP_TEST_CONFIG_H
void capheap_test_assert_fail(const char *msg, const char *file, int line);
#define CAPHEAP_ASSERT(cond, msg) \
    ((cond) ? (void)0 : capheap_test_assert_fail((msg), __FILE__, __LINE__))
#endif
