// Restoring is two jobs of similar cost: tokenising the XML (expat) and building the
// metadata. read_thin_xml_pipelined runs the first on a worker thread and the second on
// the calling thread, so they overlap on two cores. Events reach the visitor in document
// order, so the result is exactly that of read_thin_xml, and so are the errors: a
// visitor's exception comes back as an XmlError located at the element that caused it.
#pragma once

#include <string>

#include "model/thin/metadata_visitor.h"
#include "model/thin/xml_reader.h"

namespace thinsim::thin {

void read_thin_xml_pipelined(const std::string& path, MetadataVisitor& visitor,
                             const XmlReadOptions& options = {});

}  // namespace thinsim::thin
