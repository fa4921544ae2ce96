#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "dsvmops/error.h"

static void error_last_is_empty_after_clear(void **state)
{
    (void)state;
    dsvm_error_set(DSVM_ERRCLASS_CONFIG, "x");
    dsvm_error_clear();
    assert_int_equal(dsvm_error_last()->klass, DSVM_ERRCLASS_NONE);
    assert_string_equal(dsvm_error_last()->message, "");
}

static void error_set_formats_and_replaces(void **state)
{
    (void)state;
    dsvm_error_set(DSVM_ERRCLASS_MANIFEST, "bad %s at %d", "field", 7);
    assert_int_equal(dsvm_error_last()->klass, DSVM_ERRCLASS_MANIFEST);
    assert_string_equal(dsvm_error_last()->message, "bad field at 7");
    dsvm_error_set(DSVM_ERRCLASS_OS, "second");
    assert_string_equal(dsvm_error_last()->message, "second");
    dsvm_error_clear();
}

static void error_oom_returns_enomem(void **state)
{
    (void)state;
    assert_int_equal(dsvm_error_oom(), DSVM_ENOMEM);
    assert_int_equal(dsvm_error_last()->klass, DSVM_ERRCLASS_NOMEMORY);
    assert_string_equal(dsvm_error_last()->message, "out of memory");
    dsvm_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_last_is_empty_after_clear),
        cmocka_unit_test(error_set_formats_and_replaces),
        cmocka_unit_test(error_oom_returns_enomem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
