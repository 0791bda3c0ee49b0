/*-------------------------------------------------------------------------
 *
 * s3_xml.h
 *	  The XML of S3's responses, read with libxml2.
 *
 * Pure C, no PostgreSQL calls: the S3 client uses it on its upload
 * threads.  Strings are malloc'd.  Parsing never loads a DTD, an external
 * entity or anything from the network, and reports nothing to stderr.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REDTRACK_S3_XML_H
#define REDTRACK_S3_XML_H

#include <stddef.h>

typedef struct S3Xml S3Xml;

/* Once per process, before any thread parses (libxml2's own set-up). */
extern void s3_xml_init(void);

/* A parsed response, or NULL when it is not well-formed XML. */
extern S3Xml *s3_xml_parse(const char *data, size_t len);
extern void s3_xml_free(S3Xml *doc);

/* The text of the first element called name anywhere in the document. */
extern char *s3_xml_text(S3Xml *doc, const char *name);

/*
 * The elements called name directly below the root, one after another:
 * *item starts NULL; returns false after the last.  s3_xml_item_text gives
 * the text of the first element called field inside the current one.
 */
extern int	s3_xml_next_item(S3Xml *doc, const char *name, const void **item);
extern char *s3_xml_item_text(const void *item, const char *field);

/* The text of the first element called name in a response (parse, find, free). */
extern char *s3_xml_first(const char *data, const char *name);

#endif							/* REDTRACK_S3_XML_H */
