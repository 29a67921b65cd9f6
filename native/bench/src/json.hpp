// A small JSON value (null, bool, number, string, array, object with keys in insertion order) and its writer.
// Enough for the benchmark's output; non-finite numbers are written as null.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace bench {

class Json {
public:
    enum class Kind { Null, Bool, Number, Integer, String, Array, Object };

    Json() = default;
    Json(std::nullptr_t) {}
    Json(bool value) : kind_(Kind::Bool), bool_(value) {}
    Json(double value) : kind_(Kind::Number), number_(value) {}
    Json(float value) : Json(static_cast<double>(value)) {}
    Json(int value) : kind_(Kind::Integer), integer_(value) {}
    Json(long value) : kind_(Kind::Integer), integer_(value) {}
    Json(long long value) : kind_(Kind::Integer), integer_(value) {}
    Json(unsigned value) : kind_(Kind::Integer), integer_(static_cast<long long>(value)) {}
    Json(unsigned long value) : kind_(Kind::Integer), integer_(static_cast<long long>(value)) {}
    Json(unsigned long long value) : kind_(Kind::Integer), integer_(static_cast<long long>(value)) {}
    Json(const char* value) : kind_(Kind::String), string_(value) {}
    Json(std::string value) : kind_(Kind::String), string_(std::move(value)) {}

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

    /// Appends to an array.
    Json& push(Json value) {
        items_.emplace_back(std::string(), std::move(value));
        return items_.back().second;
    }
    /// Sets a key of an object (a repeated key replaces the earlier value, keeping its position).
    Json& set(const std::string& key, Json value) {
        for (auto& item : items_) {
            if (item.first == key) {
                item.second = std::move(value);
                return item.second;
            }
        }
        items_.emplace_back(key, std::move(value));
        return items_.back().second;
    }

    std::string dump(int indent = 2) const {
        std::string out;
        write(out, indent, 0);
        return out;
    }

private:
    static void escape(std::string& out, const std::string& text) {
        out += '"';
        for (const char ch : text) {
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
                        std::snprintf(buf, sizeof(buf), "\\u%04x", c);
                        out += buf;
                    } else {
                        out += ch;
                    }
            }
        }
        out += '"';
    }

    void write(std::string& out, int indent, int depth) const {
        const std::string pad(static_cast<std::size_t>(indent * (depth + 1)), ' ');
        const std::string close_pad(static_cast<std::size_t>(indent * depth), ' ');
        switch (kind_) {
            case Kind::Null: out += "null"; break;
            case Kind::Bool: out += bool_ ? "true" : "false"; break;
            case Kind::Integer: out += std::to_string(integer_); break;
            case Kind::Number:
                if (!std::isfinite(number_)) {
                    out += "null";
                } else {
                    char buf[32];
                    std::snprintf(buf, sizeof(buf), "%.6g", number_);
                    out += buf;
                }
                break;
            case Kind::String: escape(out, string_); break;
            case Kind::Array:
            case Kind::Object: {
                const bool is_object = kind_ == Kind::Object;
                out += is_object ? '{' : '[';
                if (items_.empty()) {
                    out += is_object ? '}' : ']';
                    break;
                }
                bool first = true;
                for (const auto& item : items_) {
                    out += first ? "\n" : ",\n";
                    first = false;
                    out += pad;
                    if (is_object) {
                        escape(out, item.first);
                        out += ": ";
                    }
                    item.second.write(out, indent, depth + 1);
                }
                out += '\n';
                out += close_pad;
                out += is_object ? '}' : ']';
                break;
            }
        }
    }

    Kind kind_ = Kind::Null;
    bool bool_ = false;
    double number_ = 0.0;
    long long integer_ = 0;
    std::string string_;
    std::vector<std::pair<std::string, Json>> items_;
};

}  // namespace bench
