// The JSON writer shared by the check tool and the benchmark (native/common/cvzc_json.hpp): exact output for
// each kind, escaping, key order and replacement, and the one-line and indented layouts.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "check.hpp"
#include "cvzc_json.hpp"

using cvzc_json::Json;

TEST_CASE(scalars) {
    CHECK_EQ(Json().dump(), std::string("null"));
    CHECK_EQ(Json(nullptr).dump(), std::string("null"));
    CHECK_EQ(Json(static_cast<const char*>(nullptr)).dump(), std::string("null"));
    CHECK_EQ(Json(true).dump(), std::string("true"));
    CHECK_EQ(Json(-3).dump(), std::string("-3"));
    CHECK_EQ(Json(18446744073709551615ULL).dump(), std::string("18446744073709551615"));
    CHECK_EQ(Json(0.25).dump(), std::string("0.25"));
    CHECK_EQ(Json(1.5f).dump(), std::string("1.5"));
    CHECK_EQ(Json(std::string("gpu")).dump(), std::string("\"gpu\""));
}

TEST_CASE(non_finite_numbers_are_null) {
    CHECK_EQ(Json(std::numeric_limits<double>::quiet_NaN()).dump(), std::string("null"));
    CHECK_EQ(Json(std::numeric_limits<double>::infinity()).dump(), std::string("null"));
}

TEST_CASE(strings_are_escaped) {
    CHECK_EQ(Json("a\"b\\c\n\t\x01").dump(), std::string("\"a\\\"b\\\\c\\n\\t\\u0001\""));
}

TEST_CASE(objects_keep_order_and_replace_in_place) {
    Json o = Json::object().set("b", 1).set("a", 2).set("b", 3);
    CHECK_EQ(o.dump(), std::string("{\"b\": 3, \"a\": 2}"));
    CHECK_EQ(Json::object().dump(), std::string("{}"));
    CHECK_EQ(Json::array().dump(), std::string("[]"));
    CHECK(Json().set("k", 1).kind() == Json::Kind::Object);
    CHECK(Json().push(1).kind() == Json::Kind::Array);
}

TEST_CASE(pointer_is_its_address) {
    int x = 0;
    const auto address = reinterpret_cast<std::uintptr_t>(&x);
    CHECK_EQ(Json::pointer(&x).dump(), std::to_string(address));
    CHECK_EQ(Json::pointer(nullptr).dump(), std::string("0"));
}

TEST_CASE(one_line_and_indented) {
    Json doc = Json::object().set("ok", true).set("sizes", Json::array().push(640).push(480));
    doc.set("inner", Json::object().set("x", "y"));
    CHECK_EQ(doc.dump(), std::string("{\"ok\": true, \"sizes\": [640, 480], \"inner\": {\"x\": \"y\"}}"));
    CHECK_EQ(doc.dump(2), std::string("{\n"
                                      "  \"ok\": true,\n"
                                      "  \"sizes\": [\n"
                                      "    640,\n"
                                      "    480\n"
                                      "  ],\n"
                                      "  \"inner\": {\n"
                                      "    \"x\": \"y\"\n"
                                      "  }\n"
                                      "}"));
}

int main(int argc, char** argv) { return cvzc_test::run_all(argc, argv); }
