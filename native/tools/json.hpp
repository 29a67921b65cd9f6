// A small JSON value for the check tool's output (objects keep insertion order; output is one line).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace cvzc_tool {

class Json {
public:
    enum class Kind { Null, Bool, Int, UInt, Double, String, Array, Object };

    Json() = default;
    Json(std::nullptr_t) {}
    Json(bool v) : kind_(Kind::Bool), bool_(v) {}
    Json(int v) : kind_(Kind::Int), int_(v) {}
    Json(long v) : kind_(Kind::Int), int_(v) {}
    Json(long long v) : kind_(Kind::Int), int_(v) {}
    Json(unsigned v) : kind_(Kind::UInt), uint_(v) {}
    Json(unsigned long v) : kind_(Kind::UInt), uint_(v) {}
    Json(unsigned long long v) : kind_(Kind::UInt), uint_(v) {}
    Json(double v) : kind_(Kind::Double), double_(v) {}
    Json(const char* v) : kind_(v != nullptr ? Kind::String : Kind::Null), string_(v != nullptr ? v : "") {}
    Json(std::string v) : kind_(Kind::String), string_(std::move(v)) {}
    /// An address as an unsigned integer (0 for null).
    static Json pointer(const void* p) {
        return Json(static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(p)));
    }

    static Json array() {
        Json j;
        j.kind_ = Kind::Array;
        return j;
    }
    static Json object() {
        Json j;
        j.kind_ = Kind::Object;
        return j;
    }

    /// Object: sets (or replaces) ``key``; returns *this for chaining.
    Json& set(const std::string& key, Json value) {
        kind_ = Kind::Object;
        for (auto& item : items_) {
            if (item.first == key) {
                item.second = std::move(value);
                return *this;
            }
        }
        items_.emplace_back(key, std::move(value));
        return *this;
    }
    /// Array: appends.
    Json& push(Json value) {
        kind_ = Kind::Array;
        elements_.push_back(std::move(value));
        return *this;
    }

    std::string dump() const {
        std::string out;
        write(out);
        return out;
    }

private:
    static void write_string(std::string& out, const std::string& s) {
        out += '"';
        for (unsigned char c : s) {
            switch (c) {
                case '"': out += "\\\""; break;
                case '\\': out += "\\\\"; break;
                case '\n': out += "\\n"; break;
                case '\r': out += "\\r"; break;
                case '\t': out += "\\t"; break;
                default:
                    if (c < 0x20) {
                        char buf[8];
                        std::snprintf(buf, sizeof buf, "\\u%04x", c);
                        out += buf;
                    } else {
                        out += static_cast<char>(c);
                    }
            }
        }
        out += '"';
    }

    void write(std::string& out) const {
        switch (kind_) {
            case Kind::Null: out += "null"; break;
            case Kind::Bool: out += bool_ ? "true" : "false"; break;
            case Kind::Int: out += std::to_string(int_); break;
            case Kind::UInt: out += std::to_string(uint_); break;
            case Kind::Double: {
                if (!std::isfinite(double_)) {
                    out += "null";
                    break;
                }
                char buf[64];
                std::snprintf(buf, sizeof buf, "%.6g", double_);
                out += buf;
                break;
            }
            case Kind::String: write_string(out, string_); break;
            case Kind::Array: {
                out += '[';
                for (std::size_t i = 0; i < elements_.size(); ++i) {
                    if (i != 0) out += ", ";
                    elements_[i].write(out);
                }
                out += ']';
                break;
            }
            case Kind::Object: {
                out += '{';
                for (std::size_t i = 0; i < items_.size(); ++i) {
                    if (i != 0) out += ", ";
                    write_string(out, items_[i].first);
                    out += ": ";
                    items_[i].second.write(out);
                }
                out += '}';
                break;
            }
        }
    }

    Kind kind_ = Kind::Null;
    bool bool_ = false;
    long long int_ = 0;
    unsigned long long uint_ = 0;
    double double_ = 0.0;
    std::string string_;
    std::vector<Json> elements_;
    std::vector<std::pair<std::string, Json>> items_;
};

}  // namespace cvzc_tool
