# XML layer tests (writer, run coalescer, reader). Included from tests/unit/CMakeLists.txt.
add_executable(xml_test xml_test.cc)
target_link_libraries(xml_test PRIVATE thinsim_model GTest::gtest_main)
gtest_discover_tests(xml_test DISCOVERY_MODE PRE_TEST PROPERTIES LABELS unit)
