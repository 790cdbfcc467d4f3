#include "store/entry.h"

namespace starling::store {

bool IsValidKey(std::string_view key) {
  if (key.empty() || key.size() > 512) return false;
  for (char c : key) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-' || c == '/' || c == ':';
    if (!ok) return false;
  }
  return true;
}

}  // namespace starling::store
