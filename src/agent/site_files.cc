#include "src/agent/site_files.h"

#include "src/sites/site.h"

namespace starling::agent {
namespace {

constexpr uint32_t kStackWebUser = 33;  // www-data in Debian's stacks

}  // namespace

Result<std::vector<files::PersistBind>> SiteFiles(const LogDriver& log, ImageService& images,
                                                  const FilesMount* mount, const std::string& site,
                                                  const images::ImageRecord& version) {
  auto entry = log.Get(sites::Key(site));
  if (!entry.ok()) return entry.status();
  if (!entry->has_value() || (*entry)->tombstone) return Status::NotFound("no site " + site);
  auto record = sites::Decode((*entry)->value);
  if (!record.ok()) return record.status();
  if (record->persist.empty()) return std::vector<files::PersistBind>{};
  if (mount == nullptr) {
    return Status::FailedPrecondition(
        "site " + site + " persists paths, and this node mounts no files volume ([files] mount)");
  }
  if (!mount->Mounted()) {
    return Status::Unavailable("waiting for the files volume to be mounted at " + mount->point());
  }
  std::string docroot = "/";
  uint32_t owner = 0;
  if (!version.stack.empty()) {
    auto stack = images.Record(version.stack, version.stack_version);
    if (!stack) return Status::Unavailable("its stack's version has not reached this node");
    docroot = stack->docroot;
    owner = kStackWebUser;
  }
  return files::PersistBinds(mount->point(), site, docroot, record->persist, owner);
}

}  // namespace starling::agent
