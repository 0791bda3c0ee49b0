/*
 * S3's XML responses read with libxml2: namespaces, entities and character
 * references, CDATA, a key that looks like markup, lists across pages, and
 * what must never happen (an external entity read, a malformed document
 * taken for one).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3_xml.h"
#include "tap.h"

static int
text_is(char *got, const char *want)
{
	int			ok = (got == NULL && want == NULL) ||
		(got != NULL && want != NULL && strcmp(got, want) == 0);

	if (!ok)
		printf("# got: %s, want: %s\n", got ? got : "(null)", want ? want : "(null)");
	free(got);
	return ok;
}

static const char listing[] =
"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
"<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
"<Name>bucket</Name><Prefix>a/</Prefix><KeyCount>3</KeyCount>"
"<IsTruncated>true</IsTruncated>"
"<Contents><Key>a/plain.csv.gz</Key><Size>10</Size></Contents>"
"<Contents><Key>a/&lt;/Key&gt;&amp;&#233;&#x1F600;.csv</Key><Size>20</Size></Contents>"
"<Contents><Key><![CDATA[a/cdata<&>.csv]]></Key><Size>30</Size></Contents>"
"<NextContinuationToken>tok+/=</NextContinuationToken>"
"</ListBucketResult>";

int
main(void)
{
	S3Xml	   *doc;
	const void *item = NULL;
	char	   *keys[4] = {0};
	long		sizes = 0;
	int			n = 0;

	s3_xml_init();

	doc = s3_xml_parse(listing, strlen(listing));
	check(doc != NULL, "a ListBucketResult in S3's namespace parses");
	while (n < 4 && s3_xml_next_item(doc, "Contents", &item))
	{
		char	   *size = s3_xml_item_text(item, "Size");

		keys[n++] = s3_xml_item_text(item, "Key");
		sizes += size ? atol(size) : 0;
		free(size);
	}
	check(n == 3 && sizes == 60, "three Contents items, each with its own Size");
	check(text_is(keys[0], "a/plain.csv.gz"), "a plain key");
	check(text_is(keys[1], "a/</Key>&\xc3\xa9\xf0\x9f\x98\x80.csv"),
		  "entities and character references, also beyond ASCII, decoded");
	check(text_is(keys[2], "a/cdata<&>.csv"), "a CDATA section read as text");
	check(text_is(s3_xml_text(doc, "IsTruncated"), "true"), "IsTruncated");
	check(text_is(s3_xml_text(doc, "NextContinuationToken"), "tok+/="), "the continuation token");
	check(text_is(s3_xml_text(doc, "NoSuchElement"), NULL), "a missing element is NULL");
	s3_xml_free(doc);

	check(text_is(s3_xml_first("<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
							   "<Message>Please reduce your request rate.</Message></Error>", "Code"),
				  "SlowDown"), "the code of an Error document");
	check(text_is(s3_xml_first("<Error><Code>Slow", "Code"), NULL), "a truncated document is not read");
	check(text_is(s3_xml_first("<html><body>502 Bad Gateway</body></html>", "Code"), NULL),
		  "a proxy's HTML page has no code");
	check(text_is(s3_xml_first("", "Code"), NULL), "an empty body has no code");
	check(text_is(s3_xml_first("<?xml version=\"1.0\"?><!DOCTYPE e [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
							   "<Error><Code>&x;</Code></Error>", "Code"), ""),
		  "an external entity is never read");

	return tap_done();
}
