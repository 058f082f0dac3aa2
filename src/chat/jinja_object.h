#pragma once
// How templates reach into values, with Jinja's sandbox semantics: `x.attr` and `x[key]` (missing -> Undefined,
// but anything on an Undefined raises), Python slicing, iteration, and the str/dict/list methods templates call.
// Mutating methods (list.append, dict.update, ...) raise: transformers renders in an immutable sandbox.
#include <string_view>

#include "chat/jinja_value.h"

namespace pagellm::jinja {

Value get_attr(const Value& obj, std::string_view name);
// Jinja2's attr filter: Python's getattr() alone, so a dict's keys are not attributes (only its
// methods are); other values as get_attr.
Value get_attr_only(const Value& obj, std::string_view name);
// obj.name(args) when `name` is a str/dict/list method: called directly, without building a bound method.
// nullopt when obj has no such method (the caller then falls back to get_attr + call).
std::optional<Value> call_method(const Value& obj, std::string_view name, const CallArgs& args);
Value get_item(const Value& obj, const Value& key);
// Follows a dotted path like "function.name" (used by map/selectattr/sort attribute=): each part is an item
// lookup, numbers index lists.
Value get_attr_path(const Value& obj, std::string_view path);
// Python obj[start:stop:step]; null pointers mean omitted.
Value slice(const Value& obj, const Value* start, const Value* stop, const Value* step);
// The items a for-loop (or list filter) sees: list items, dict keys, string characters; Undefined is empty.
ValueList iterate(const Value& obj);
// len(); Undefined has length 0.
size_t length_of(const Value& obj);
// `needle in haystack`.
bool contains(const Value& haystack, const Value& needle);

}  // namespace pagellm::jinja
