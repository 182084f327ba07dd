// Compares a thin_dump of a metadata device with what the reference model says its last
// commit made durable: the superblock fields the model knows, every device and its
// details, every mapping with its time, and the sharing: two mappings name one data block
// in the dump iff they hold one token in the model.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace thinsim::ref {
class RefPool;
}

namespace thinsim::harness {

// Nothing when the dump agrees, else the first difference found. Throws thin::XmlError
// for a dump that does not parse.
std::optional<std::string> compare_dump_with_reference(std::string_view dump_xml,
                                                       const ref::RefPool& reference);

}  // namespace thinsim::harness
