// A small JSON value (null, bool, integer, number, string, array, object with keys in insertion order) and its
// writer, shared by the check tool (native/tools: one line per report) and the benchmark (native/bench: indented).
// Non-finite numbers are written as null, since JSON has no NaN or infinity.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace cvzc_json {

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
    Json(float v) : Json(static_cast<double>(v)) {}
    Json(double v) : kind_(Kind::Double), double_(v) {}
    Json(const char* v) : kind_(v != nullptr ? Kind::String : Kind::Null), string_(v != nullptr ? v : "") {}
    Json(std::string v) : kind_(Kind::String), string_(std::move(v)) {}

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
    /// An address as an unsigned integer (0 for null).
    static Json pointer(const void* p) {
        return Json(static_cast<unsigned long long>(reinterpret_cast<std::uintptr_t>(p)));
    }

    Kind kind() const { return kind_; }

    /// Object: sets ``key`` (a repeated key replaces the earlier value and keeps its position); returns *this,
    /// so calls chain: ``Json::object().set("ok", false).set("error", why)``.
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
    /// Array: appends; returns *this.
    Json& push(Json value) {
        kind_ = Kind::Array;
        items_.emplace_back(std::string(), std::move(value));
        return *this;
    }

    /// The text: one line with ``indent`` 0, else one member per line indented by ``indent`` spaces a level.
    std::string dump(int indent = 0) const {
        std::string out;
        write(out, indent < 0 ? 0 : indent, 0);
        return out;
    }

private:
    static void write_string(std::string& out, const std::string& s) {
        out += '"';
        for (const char ch : s) {
            const auto c = static_cast<unsigned char>(ch);
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
                        out += ch;
                    }
            }
        }
        out += '"';
    }

    void write(std::string& out, int indent, int depth) const {
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
                char buf[32];
                std::snprintf(buf, sizeof buf, "%.6g", double_);
                out += buf;
                break;
            }
            case Kind::String: write_string(out, string_); break;
            case Kind::Array:
            case Kind::Object: write_container(out, indent, depth); break;
        }
    }

    void write_container(std::string& out, int indent, int depth) const {
        const bool is_object = kind_ == Kind::Object;
        out += is_object ? '{' : '[';
        if (items_.empty()) {
            out += is_object ? '}' : ']';
            return;
        }
        const std::string pad(static_cast<std::size_t>(indent) * static_cast<std::size_t>(depth + 1), ' ');
        for (std::size_t i = 0; i < items_.size(); ++i) {
            if (indent > 0) {
                out += i == 0 ? "\n" : ",\n";
                out += pad;
            } else if (i != 0) {
                out += ", ";
            }
            if (is_object) {
                write_string(out, items_[i].first);
                out += ": ";
            }
            items_[i].second.write(out, indent, depth + 1);
        }
        if (indent > 0) {
            out += '\n';
            out += std::string(static_cast<std::size_t>(indent) * static_cast<std::size_t>(depth), ' ');
        }
        out += is_object ? '}' : ']';
    }

    Kind kind_ = Kind::Null;
    bool bool_ = false;
    long long int_ = 0;
    unsigned long long uint_ = 0;
    double double_ = 0.0;
    std::string string_;
    std::vector<std::pair<std::string, Json>> items_;  // an array's elements have empty keys
};

}  // namespace cvzc_json
