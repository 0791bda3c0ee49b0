'use strict';
// Just enough XML for S3's flat request and response documents: an escaping
// serializer and a reader for the few request bodies S3 takes
// (CompleteMultipartUpload, Delete). Not a general XML parser: it reads
// elements by name and does not validate; that is all those schemas need.

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const NAMED = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

function decode(text) {
  return text
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, (_, cdata) => cdata.replace(/&/g, '&amp;').replace(/</g, '&lt;'))
    .replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, name) => {
      if (name[0] === '#') {
        const code = name[1] === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return String.fromCodePoint(code);
      }
      return NAMED[name] ?? whole;
    });
}

// Serialize {Tag: value} into elements: strings/numbers/booleans become text,
// arrays repeat the tag, objects nest, undefined and null are left out.
function elements(fields) {
  let out = '';
  for (const [tag, value] of Object.entries(fields)) {
    if (value === undefined || value === null) continue;
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      const inner = typeof item === 'object' ? elements(item) : escape(item);
      out += `<${tag}>${inner}</${tag}>`;
    }
  }
  return out;
}

function document(root, fields, namespace = 'http://s3.amazonaws.com/doc/2006-03-01/') {
  const ns = namespace ? ` xmlns="${namespace}"` : '';
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root}${ns}>${elements(fields)}</${root}>`;
}

function elementPattern(name) {
  return new RegExp(`<${name}(?:\\s[^>]*)?(?:/>|>([\\s\\S]*?)</${name}\\s*>)`, 'g');
}

// Inner XML of every <name> element in xml, in document order.
function children(xml, name) {
  return [...xml.matchAll(elementPattern(name))].map((m) => m[1] ?? '');
}

// Decoded text of the first <name> element, or undefined when absent.
function text(xml, name) {
  const found = children(xml, name);
  return found.length ? decode(found[0]) : undefined;
}

// The name of the document's root element, skipping the XML declaration and comments.
function rootName(xml) {
  const m = /^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<([A-Za-z_][\w.-]*)/.exec(xml);
  return m ? m[1] : undefined;
}

module.exports = { escape, decode, elements, document, children, text, rootName };
