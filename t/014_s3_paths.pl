# S3 requests are sent as they were signed: a session token several KB
# long (longer than any fixed header buffer) works end to end, and a key
# with "." and ".." path segments reaches S3 with them (libcurl would
# otherwise collapse them, and S3 would refuse the signature).  The S3
# stand-in verifies the signature first, then refuses such keys because it
# stores objects as files: its "not supported" answer is the proof that the
# path arrived as signed.
use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";
use PostgreSQL::Test::Utils;
use RedtrackTest;
use Test::More;

my $dialect = $ENV{REDTRACK_TEST_DIALECT} // 'redshift';
my $st = stack();
my $schema = target_schema();
my $token = $ENV{REDTRACK_AWS_SESSION_TOKEN};
my $dotted = 'tap/' . RedtrackTest::run_id() . '/./dots/../dots';

cmp_ok(length($token // ''), '>', 2048, 'the stack hands out a session token longer than 2 KB');
my $node = new_source('s3_paths', dialect => $dialect, conf => qq{
redtrack.aws_access_key_id = '@{[ $ENV{REDTRACK_AWS_TEMP_ACCESS_KEY_ID} // 'ASIAREDTRACKTEMP' ]}'
redtrack.aws_secret_access_key = '@{[ $ENV{REDTRACK_AWS_TEMP_SECRET_ACCESS_KEY} // 'redtrack-temp-secret' ]}'
redtrack.aws_session_token = '$token'
redtrack.redshift_iam_role = ''
});
clear_faults();

my ($out, $err);

# The dot segments on their own, with the long-term key pair.
$node->safe_psql('postgres', qq{CREATE TABLE dots (id int PRIMARY KEY); INSERT INTO dots VALUES (1);
	SELECT rrr_register('dots', 'full', target_table => '$schema.dots')});
$node->psql('postgres', qq{SET redtrack.s3_prefix = '$dotted';
	SET redtrack.aws_access_key_id = '$st->{access_key}'; SET redtrack.aws_secret_access_key = '$st->{secret_key}';
	SET redtrack.aws_session_token = '';
	SELECT state || '|' || COALESCE(error, '') FROM rrr_replicate('dots')}, stdout => \$out, stderr => \$err);
unlike($out, qr/SignatureDoesNotMatch/, 'a key with "." and ".." segments is signed as sent');
like($out, qr{^failed\|.*PUT \Q$dotted\E/.*path segments are not supported by this S3 stand-in}s,
	'and reaches S3 with its segments (the stand-in refuses to store it only after verifying the signature)');

$node->safe_psql('postgres', qq{
CREATE TABLE dotted (id int PRIMARY KEY, v text);
INSERT INTO dotted SELECT g, 'v' || g FROM generate_series(1, 50) g;
SELECT rrr_register('dotted', 'full', target_table => '$schema.dotted');
});
$node->psql('postgres', q{SELECT state || '|' || rows || '|' || COALESCE(error, '') FROM rrr_replicate('dotted')},
	stdout => \$out, stderr => \$err);
like($out, qr/^imported\|50\|$/, 'a temporary key pair with a long session token: imported')
  or diag($err);
compare_tables($node, 'SELECT id, v FROM dotted ORDER BY 1', "SELECT id, v FROM $schema.dotted ORDER BY 1", 'dotted');


$node->stop;
warehouse_sql("DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_loads CASCADE");
done_testing();
