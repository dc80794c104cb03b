// A shared library with no layer in it (tests/plugin_test.cc): refused as a plugin, by name.
extern "C" int onebyone_test_library_without_layers() { return 0; }
