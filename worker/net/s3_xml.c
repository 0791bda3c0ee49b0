/*-------------------------------------------------------------------------
 *
 * s3_xml.c
 *	  The XML of S3's responses, read with libxml2 (see s3_xml.h).
 *
 * S3's responses are small documents in S3's namespace (ListBucketResult,
 * Error, DeleteResult, ListMultipartUploadsResult, ...); elements are
 * matched by their local name, whatever namespace prefix a server uses.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "s3_xml.h"

struct S3Xml
{
	xmlDocPtr	doc;
};

/* No network, no DTD, no entity substitution, no reports to stderr. */
#define S3_XML_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA)

void
s3_xml_init(void)
{
	xmlInitParser();
}

S3Xml *
s3_xml_parse(const char *data, size_t len)
{
	S3Xml	   *doc;
	xmlDocPtr	parsed;

	if (data == NULL || len == 0 || len > (size_t) 0x7fffffff)
		return NULL;
	parsed = xmlReadMemory(data, (int) len, "s3-response.xml", NULL, S3_XML_OPTIONS);
	if (parsed == NULL)
		return NULL;
	if (xmlDocGetRootElement(parsed) == NULL || (doc = malloc(sizeof(S3Xml))) == NULL)
	{
		xmlFreeDoc(parsed);
		return NULL;
	}
	doc->doc = parsed;
	return doc;
}

void
s3_xml_free(S3Xml *doc)
{
	if (doc == NULL)
		return;
	xmlFreeDoc(doc->doc);
	free(doc);
}

static int
is_element(xmlNodePtr node, const char *name)
{
	return node->type == XML_ELEMENT_NODE && strcmp((const char *) node->name, name) == 0;
}

/* The first element called name at or below node, depth first. */
static xmlNodePtr
find(xmlNodePtr node, const char *name)
{
	for (; node; node = node->next)
	{
		xmlNodePtr	found;

		if (is_element(node, name))
			return node;
		if (node->type == XML_ELEMENT_NODE && (found = find(node->children, name)) != NULL)
			return found;
	}
	return NULL;
}

/* An element's text content, malloc'd (libxml2's own copy is freed). */
static char *
text_of(xmlNodePtr node)
{
	xmlChar    *content;
	char	   *text;

	if (node == NULL)
		return NULL;
	content = xmlNodeGetContent(node);
	if (content == NULL)
		return strdup("");
	text = strdup((const char *) content);
	xmlFree(content);
	return text;
}

char *
s3_xml_text(S3Xml *doc, const char *name)
{
	if (doc == NULL)
		return NULL;
	return text_of(find(xmlDocGetRootElement(doc->doc), name));
}

int
s3_xml_next_item(S3Xml *doc, const char *name, const void **item)
{
	xmlNodePtr	node;

	if (doc == NULL)
		return 0;
	node = *item ? ((xmlNodePtr) *item)->next : xmlDocGetRootElement(doc->doc)->children;
	for (; node; node = node->next)
	{
		if (is_element(node, name))
		{
			*item = node;
			return 1;
		}
	}
	return 0;
}

char *
s3_xml_item_text(const void *item, const char *field)
{
	if (item == NULL)
		return NULL;
	return text_of(find(((xmlNodePtr) item)->children, field));
}

char *
s3_xml_first(const char *data, const char *name)
{
	S3Xml	   *doc = data ? s3_xml_parse(data, strlen(data)) : NULL;
	char	   *text = s3_xml_text(doc, name);

	s3_xml_free(doc);
	return text;
}
