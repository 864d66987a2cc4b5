/* The gateway codec: recorded OpenAI and Anthropic streams, fed through
 * the SSE parser cut every which way, give the same provider events;
 * faults (a missing end, in-stream errors, bad data) give the right
 * code; request bodies are exact, roles alternate for Anthropic, stored
 * reasoning goes back unchanged, and malformed requests name the field. */
#include <check.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "../plugins/gateway/codec.h"
#include "../plugins/gateway/sse.h"

/* ------------------------------------------------------------------ */
/* Text helpers                                                        */
/* ------------------------------------------------------------------ */

struct text {
	char *s;
	size_t len, cap;
};

static void
text_addn(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->s = realloc(t->s, t->cap);
		ck_assert_ptr_nonnull(t->s);
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
}

static void text_add(struct text *t, const char *fmt, ...) FLUE_PRINTF(2, 3);

static void
text_add(struct text *t, const char *fmt, ...)
{
	char *s;
	int n;
	va_list ap;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	ck_assert_int_ge(n, 0);
	text_addn(t, s, (size_t)n);
	free(s);
}

/* Streams and JSON below are written with ` for ", to stay readable. */
static char *
dq(const char *s)
{
	char *out = strdup(s);

	for (char *p = out; *p; p++)
		if (*p == '`')
			*p = '"';
	return out;
}

/* One OpenAI chunk in the gateway's recorded envelope.  finish is the
 * JSON value of finish_reason; extra adds top-level fields. */
static void
oa_chunk(struct text *t, const char *delta, const char *finish,
         const char *extra)
{
	text_add(t, "data: {`id`:`gen_01KKHTNYDSXG9EYEEAJ2QX1E09`,`object`:"
	         "`chat.completion.chunk`,`created`:1773346161,`model`:"
	         "`anthropic/claude-sonnet-4`,`choices`:[{`index`:0,`delta`:%s,"
	         "`logprobs`:null,`finish_reason`:%s}],`system_fingerprint`:"
	         "`fp_qsdt78u95y`%s}\n\n", delta, finish ? finish : "null",
	         extra ? extra : "");
}

static void
oa_done(struct text *t)
{
	text_add(t, "data: [DONE]\n\n");
}

/* One Anthropic event; named says whether the event: line is there. */
static void
an_event(struct text *t, int named, const char *type, const char *data)
{
	if (named)
		text_add(t, "event: %s\n", type);
	text_add(t, "data: %s\n\n", data);
}

/* ------------------------------------------------------------------ */
/* Running a stream                                                    */
/* ------------------------------------------------------------------ */

struct run {
	struct gw_decoder *dec;
	struct text log;
	int rc;
	struct flue_error err;
	int events;
	int cancel_at;      /* emit asks to stop at this event (0: never) */
	char *opaque;       /* the last OPAQUE, for the echo tests */
};

static const char *
code_name(int rc)
{
	switch (rc) {
	case 0: return "ok";
	case FLUE_ERROR: return "error";
	case FLUE_ERETRY: return "retry";
	case FLUE_ECANCELED: return "canceled";
	case FLUE_ENOMEM: return "nomem";
	default: return "?";
	}
}

static int
record(void *payload, const struct flue_provider_event *ev)
{
	struct run *r = payload;
	int len = (int)ev->text_len;

	ck_assert(ev->text != NULL || ev->text_len == 0);
	if (r->log.len > 0)
		text_add(&r->log, "\n");
	switch (ev->type) {
	case FLUE_PROVIDER_TEXT_DELTA:
		text_add(&r->log, "text(%.*s)", len, ev->text);
		break;
	case FLUE_PROVIDER_THINKING_DELTA:
		text_add(&r->log, "think(%.*s)", len, ev->text);
		break;
	case FLUE_PROVIDER_TOOL_CALL_START:
		text_add(&r->log, "start(%u,%s,%s)", ev->index, ev->id, ev->name);
		break;
	case FLUE_PROVIDER_TOOL_CALL_DELTA:
		text_add(&r->log, "delta(%u,%.*s)", ev->index, len, ev->text);
		break;
	case FLUE_PROVIDER_TOOL_CALL_END:
		text_add(&r->log, "end(%u)", ev->index);
		break;
	case FLUE_PROVIDER_USAGE:
		text_add(&r->log, "usage(in=%llu,out=%llu,cr=%llu,cw=%llu,r=%llu,"
		         "cost=%g)", (unsigned long long)ev->usage->input_tokens,
		         (unsigned long long)ev->usage->output_tokens,
		         (unsigned long long)ev->usage->cache_read_tokens,
		         (unsigned long long)ev->usage->cache_write_tokens,
		         (unsigned long long)ev->usage->reasoning_tokens,
		         ev->usage->cost_usd);
		break;
	case FLUE_PROVIDER_OPAQUE:
		text_add(&r->log, "opaque(%.*s)", len, ev->text);
		free(r->opaque);
		r->opaque = strndup(ev->text, ev->text_len);
		break;
	case FLUE_PROVIDER_STOP:
		text_add(&r->log, "stop(%.*s)", len, ev->text);
		break;
	default:
		ck_abort_msg("unexpected event type %u", ev->type);
	}
	return ++r->events == r->cancel_at;
}

static int
on_sse(void *arg, const struct sse_event *ev)
{
	struct run *r = arg;

	r->rc = gw_decoder_event(r->dec, ev->type, ev->data, ev->data_len,
	                         &r->err);
	return r->rc;
}

/* Feed stream through the SSE parser in pieces (sizes: the cut points
 * as lengths, cycled; {0}: all at once), then finish. */
static void
run_stream(enum gw_api api, const char *stream, const size_t *sizes,
           size_t nsizes, struct run *r)
{
	size_t len = strlen(stream), at = 0, k = 0;
	struct sse_parser p;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	ck_assert_int_eq(gw_decoder_new(api, record, r, &r->dec), 0);
	ck_assert_int_eq(gw_decoder_started(r->dec), 0);
	sse_parser_init(&p, on_sse, r);
	while (at < len && rc == 0) {
		size_t n = sizes[k++ % nsizes];

		if (n == 0 || n > len - at)
			n = len - at;
		rc = sse_parser_feed(&p, stream + at, n);
		at += n;
	}
	ck_assert(rc == 0 || rc == r->rc);
	if (rc == 0)
		r->rc = gw_decoder_finish(r->dec, &r->err);
	ck_assert_int_eq(gw_decoder_started(r->dec), r->events > 0);
	if (r->rc != 0) {
		ck_assert_int_eq(r->err.code, r->rc);
		text_add(&r->log, "%s=> %s: %s", r->log.len ? "\n" : "",
		         code_name(r->rc), r->err.message);
	} else {
		text_add(&r->log, "%s=> ok", r->log.len ? "\n" : "");
	}
	sse_parser_free(&p);
	gw_decoder_free(r->dec);
	r->dec = NULL;
}

static void
run_free(struct run *r)
{
	free(r->log.s);
	free(r->opaque);
}

static uint32_t
next_random(uint32_t *state)
{
	/* xorshift32: the same cuts on every machine. */
	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

/* The stream gives want (events, then "=> ok" or "=> code: message")
 * whole, byte by byte, in small pieces and in 100 random cuttings. */
static void
check_stream(enum gw_api api, const char *stream, const char *want_dq)
{
	static const size_t whole[] = {0}, bytes[] = {1}, odd[] = {2, 7, 3};
	char *want = dq(want_dq);
	uint32_t seed = 20261122;
	size_t sizes[64];
	struct run r;

	run_stream(api, stream, whole, 1, &r);
	ck_assert_msg(strcmp(r.log.s, want) == 0, "whole:\n%s\nwant:\n%s",
	              r.log.s, want);
	run_free(&r);
	run_stream(api, stream, bytes, 1, &r);
	ck_assert_msg(strcmp(r.log.s, want) == 0, "bytes:\n%s", r.log.s);
	run_free(&r);
	run_stream(api, stream, odd, 3, &r);
	ck_assert_msg(strcmp(r.log.s, want) == 0, "2,7,3:\n%s", r.log.s);
	run_free(&r);
	for (int round = 0; round < 100; round++) {
		for (size_t i = 0; i < 64; i++)
			sizes[i] = 1 + next_random(&seed) % 48;
		run_stream(api, stream, sizes, 64, &r);
		ck_assert_msg(strcmp(r.log.s, want) == 0, "round %d:\n%s", round,
		              r.log.s);
		run_free(&r);
	}
	free(want);
}

/* Decode whole, return the last OPAQUE ([caller-owned]). */
static char *
decode_opaque(enum gw_api api, const char *stream)
{
	static const size_t whole[] = {0};
	struct run r;
	char *opaque;

	run_stream(api, stream, whole, 1, &r);
	ck_assert_int_eq(r.rc, 0);
	ck_assert_ptr_nonnull(r.opaque);
	opaque = r.opaque;
	r.opaque = NULL;
	run_free(&r);
	return opaque;
}

/* ------------------------------------------------------------------ */
/* OpenAI streams                                                      */
/* ------------------------------------------------------------------ */

#define OA_USAGE_RECORDED \
	",`usage`:{`prompt_tokens`:394,`completion_tokens`:67," \
	"`total_tokens`:461,`cost`:0.002187,`is_byok`:false," \
	"`prompt_tokens_details`:{`cached_tokens`:0,`audio_tokens`:0," \
	"`video_tokens`:0},`completion_tokens_details`:{`reasoning_tokens`:0," \
	"`image_tokens`:0},`cache_creation_input_tokens`:0," \
	"`market_cost`:0.002187},`generationId`:`gen_01KKHTNYDSXG9EYEEAJ2QX1E09`"

/* The gateway's text-then-tool-call answer, usage on the final chunk.
 * done: end with [DONE]; finish: send the finish_reason. */
static char *
oa_tool_stream(int finish, int done)
{
	struct text t = {0};
	char *out;

	oa_chunk(&t, "{`role`:`assistant`}", NULL, NULL);
	oa_chunk(&t, "{`content`:`I'll add and`}", NULL, NULL);
	oa_chunk(&t, "{`content`:` check.`}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`id`:`toolu_01QU`,`type`:"
	         "`function`,`function`:{`name`:`add`,`arguments`:``}}]}", NULL,
	         NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:"
	         "`{\\`a\\`: 2`}}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:"
	         "`, `}}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:"
	         "`\\`b\\`: 3}`}}]}", NULL, NULL);
	if (finish)
		oa_chunk(&t, "{`provider_metadata`:{`gateway`:{`cost`:`0.002187`}}}",
		         "`tool_calls`", OA_USAGE_RECORDED);
	if (done)
		oa_done(&t);
	out = dq(t.s);
	free(t.s);
	return out;
}

START_TEST(openai_text_then_tool_call)
{
	char *s = oa_tool_stream(1, 1);

	check_stream(GW_API_OPENAI_CHAT, s,
	             "text(I'll add and)\n"
	             "text( check.)\n"
	             "start(0,toolu_01QU,add)\n"
	             "delta(0,{`a`: 2)\n"
	             "delta(0,, )\n"
	             "delta(0,`b`: 3})\n"
	             "end(0)\n"
	             "usage(in=394,out=67,cr=0,cw=0,r=0,cost=0.002187)\n"
	             "stop(tool_calls)\n"
	             "=> ok");
	free(s);
}
END_TEST

START_TEST(openai_usage_in_own_chunk)
{
	struct text t = {0};
	char *s;

	/* OpenAI proper: content "" first, usage after the finish in a
	 * chunk without choices; cached and cache-written tokens apart. */
	oa_chunk(&t, "{`role`:`assistant`,`content`:``,`refusal`:null}", NULL,
	         NULL);
	oa_chunk(&t, "{`content`:`Hello`}", NULL, NULL);
	oa_chunk(&t, "{`content`:` world`}", NULL, NULL);
	oa_chunk(&t, "{}", "`stop`", NULL);
	text_add(&t, "data: {`id`:`chatcmpl-1`,`object`:`chat.completion.chunk`,"
	         "`choices`:[],`usage`:{`prompt_tokens`:1200,"
	         "`completion_tokens`:30,`prompt_tokens_details`:"
	         "{`cached_tokens`:1000},`cache_creation_input_tokens`:150,"
	         "`completion_tokens_details`:{`reasoning_tokens`:12},"
	         "`cost`:`0.0004`}}\n\n");
	oa_done(&t);
	s = dq(t.s);
	check_stream(GW_API_OPENAI_CHAT, s,
	             "text(Hello)\n"
	             "text( world)\n"
	             "usage(in=50,out=30,cr=1000,cw=150,r=12,cost=0.0004)\n"
	             "stop(end)\n"
	             "=> ok");
	free(s);
	free(t.s);
}
END_TEST

START_TEST(openai_parallel_calls_split_anywhere)
{
	struct text t = {0};
	char *s;

	oa_chunk(&t, "{`content`:`Reading both.`}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`id`:`call_a`,`type`:`function`,"
	         "`function`:{`name`:`read`,`arguments`:``}}]}", NULL, NULL);
	/* Cut inside the escape \n of the value. */
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:"
	         "`{\\`path\\`:\\`a\\\\`}}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:"
	         "`nb\\`}`}}]}", NULL, NULL);
	/* Cut inside a key; the start carries the first piece. */
	oa_chunk(&t, "{`tool_calls`:[{`index`:1,`id`:`call_b`,`type`:`function`,"
	         "`function`:{`name`:`read`,`arguments`:`{\\``}}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:1,`function`:{`arguments`:"
	         "`pa`}}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:1,`function`:{`arguments`:"
	         "`th\\`:\\`b.txt\\`}`}}]}", NULL, NULL);
	oa_chunk(&t, "{}", "`tool_calls`",
	         ",`usage`:{`prompt_tokens`:10,`completion_tokens`:5}");
	oa_done(&t);
	s = dq(t.s);
	check_stream(GW_API_OPENAI_CHAT, s,
	             "text(Reading both.)\n"
	             "start(0,call_a,read)\n"
	             "delta(0,{`path`:`a\\)\n"
	             "delta(0,nb`})\n"
	             "start(1,call_b,read)\n"
	             "delta(1,{`)\n"
	             "delta(1,pa)\n"
	             "delta(1,th`:`b.txt`})\n"
	             "end(0)\n"
	             "end(1)\n"
	             "usage(in=10,out=5,cr=0,cw=0,r=0,cost=-1)\n"
	             "stop(tool_calls)\n"
	             "=> ok");
	free(s);
	free(t.s);
}
END_TEST

START_TEST(openai_one_piece_and_empty_args)
{
	struct text t = {0};
	char *s;

	/* Gemini: the whole object at once; a call without arguments and
	 * without an id gets call_<index>. */
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`id`:`g1`,`type`:`function`,"
	         "`function`:{`name`:`ls`,`arguments`:`{\\`path\\`:\\`.\\`}`}},"
	         "{`index`:1,`type`:`function`,`function`:{`name`:`now`,"
	         "`arguments`:``}}]}", NULL, NULL);
	oa_chunk(&t, "{}", "`function_call`", NULL);
	oa_done(&t);
	s = dq(t.s);
	check_stream(GW_API_OPENAI_CHAT, s,
	             "start(0,g1,ls)\n"
	             "delta(0,{`path`:`.`})\n"
	             "start(1,call_1,now)\n"
	             "end(0)\n"
	             "end(1)\n"
	             "stop(tool_calls)\n"
	             "=> ok");
	free(s);
	free(t.s);
}
END_TEST

START_TEST(openai_calls_numbered_oddly)
{
	struct text t = {0};
	char *s;

	/* Every call numbered 0, told apart by their ids; then calls with
	 * no index at all, continued by id or by being the last. */
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`id`:`a`,`function`:{`name`:"
	         "`x`,`arguments`:`{`}}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`function`:{`arguments`:`}`}}]}",
	         NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`id`:`b`,`function`:{`name`:"
	         "`y`,`arguments`:`{}`}}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`id`:`c`,`function`:{`name`:`z`,"
	         "`arguments`:`[`}}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`function`:{`arguments`:`1`}}]}", NULL,
	         NULL);
	oa_chunk(&t, "{`tool_calls`:[{`id`:`c`,`function`:{`arguments`:`]`}}]}",
	         "`tool_calls`", NULL);
	oa_done(&t);
	s = dq(t.s);
	check_stream(GW_API_OPENAI_CHAT, s,
	             "start(0,a,x)\n"
	             "delta(0,{)\n"
	             "delta(0,})\n"
	             "start(1,b,y)\n"
	             "delta(1,{})\n"
	             "start(2,c,z)\n"
	             "delta(2,[)\n"
	             "delta(2,1)\n"
	             "delta(2,])\n"
	             "end(0)\n"
	             "end(1)\n"
	             "end(2)\n"
	             "stop(tool_calls)\n"
	             "=> ok");
	free(s);
	free(t.s);
}
END_TEST

START_TEST(openai_call_without_name)
{
	struct text t = {0};
	char *s;

	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`id`:`x`,`function`:"
	         "{`arguments`:`{}`}}]}", NULL, NULL);
	oa_chunk(&t, "{}", "`tool_calls`", NULL);
	oa_done(&t);
	s = dq(t.s);
	check_stream(GW_API_OPENAI_CHAT, s,
	             "=> error: the provider started tool call 0 without a name");
	free(s);
	free(t.s);
}
END_TEST

START_TEST(openai_reasoning_with_signature)
{
	struct text t = {0};
	char *s;

	oa_chunk(&t, "{`reasoning`:`The user is asking for`,`reasoning_details`:"
	         "[{`type`:`reasoning.text`,`text`:`The user is asking for`,"
	         "`signature`:``,`format`:`anthropic-claude-v1`,`index`:0}]}",
	         NULL, NULL);
	oa_chunk(&t, "{`reasoning`:` a sum.`,`reasoning_details`:[{`type`:"
	         "`reasoning.text`,`text`:` a sum.`,`format`:"
	         "`anthropic-claude-v1`,`index`:0}]}", NULL, NULL);
	oa_chunk(&t, "{`reasoning`:``,`reasoning_details`:[{`type`:"
	         "`reasoning.text`,`text`:``,`signature`:`EqUDsig==`,`format`:"
	         "`anthropic-claude-v1`,`index`:0}]}", NULL, NULL);
	oa_chunk(&t, "{`content`:`5`}", NULL, NULL);
	oa_chunk(&t, "{}", "`stop`", ",`usage`:{`prompt_tokens`:20,"
	         "`completion_tokens`:9,`completion_tokens_details`:"
	         "{`reasoning_tokens`:7},`cost`:0.5}");
	oa_done(&t);
	s = dq(t.s);
	check_stream(GW_API_OPENAI_CHAT, s,
	             "think(The user is asking for)\n"
	             "think( a sum.)\n"
	             "text(5)\n"
	             "usage(in=20,out=9,cr=0,cw=0,r=7,cost=0.5)\n"
	             "opaque({`api`:`openai-chat`,`reasoning`:`The user is asking "
	             "for a sum.`,`reasoning_details`:[{`type`:`reasoning.text`,"
	             "`text`:`The user is asking for a sum.`,`signature`:"
	             "`EqUDsig==`,`format`:`anthropic-claude-v1`,`index`:0}]})\n"
	             "stop(end)\n"
	             "=> ok");
	free(s);
	free(t.s);
}
END_TEST

START_TEST(openai_summary_and_encrypted_reasoning)
{
	struct text t = {0};
	char *s;

	/* OpenAI models: details only, no plain "reasoning": the summary
	 * is what is shown. */
	oa_chunk(&t, "{`reasoning_details`:[{`type`:`reasoning.summary`,"
	         "`summary`:`Sum`,`id`:`rs_1`,`format`:`openai-responses-v1`,"
	         "`index`:0}]}", NULL, NULL);
	oa_chunk(&t, "{`reasoning_details`:[{`type`:`reasoning.summary`,"
	         "`summary`:`ming.`,`index`:0}]}", NULL, NULL);
	oa_chunk(&t, "{`reasoning_details`:[{`type`:`reasoning.encrypted`,"
	         "`data`:`gAAAA`,`id`:`rs_1`,`format`:`openai-responses-v1`,"
	         "`index`:1}]}", NULL, NULL);
	oa_chunk(&t, "{`reasoning_details`:[{`type`:`reasoning.encrypted`,"
	         "`data`:`BBB=`,`index`:1}]}", NULL, NULL);
	oa_chunk(&t, "{`content`:`ok`}", "`length`", NULL);
	oa_done(&t);
	s = dq(t.s);
	check_stream(GW_API_OPENAI_CHAT, s,
	             "think(Sum)\n"
	             "think(ming.)\n"
	             "text(ok)\n"
	             "opaque({`api`:`openai-chat`,`reasoning_details`:[{`type`:"
	             "`reasoning.summary`,`summary`:`Summing.`,`id`:`rs_1`,"
	             "`format`:`openai-responses-v1`,`index`:0},{`type`:"
	             "`reasoning.encrypted`,`data`:`gAAAABBB=`,`id`:`rs_1`,"
	             "`format`:`openai-responses-v1`,`index`:1}]})\n"
	             "stop(max_tokens)\n"
	             "=> ok");
	free(s);
	free(t.s);
}
END_TEST

START_TEST(openai_framing_and_utf8)
{
	/* CR LF, comments, no space after the colon, a keep-alive empty
	 * data line, and multi-byte characters cut by every split. */
	const char *s =
		": keep-alive\r\n\r\n"
		"data:{\"choices\":[{\"index\":0,\"delta\":{\"content\":"
		"\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}}]}\r\n\r\n"
		"data:\r\n\r\n"
		": ping\r\n"
		"data: {\"choices\":[{\"index\":0,\"delta\":{},"
		"\"finish_reason\":\"content_filter\"}]}\r\r"
		"data:[DONE]\r\n\r\n";

	check_stream(GW_API_OPENAI_CHAT, s,
	             "text(caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80)\n"
	             "stop(refusal)\n"
	             "=> ok");
}
END_TEST

START_TEST(openai_cut_short)
{
	char *s = oa_tool_stream(1, 0);
	char *t = oa_tool_stream(0, 1);
	const char *head =
		"text(I'll add and)\n"
		"text( check.)\n"
		"start(0,toolu_01QU,add)\n"
		"delta(0,{`a`: 2)\n"
		"delta(0,, )\n"
		"delta(0,`b`: 3})\n";
	char want[1024];

	/* No [DONE]: the body ended. */
	snprintf(want, sizeof(want), "%s=> retry: the stream ended before the "
	         "answer was complete", head);
	check_stream(GW_API_OPENAI_CHAT, s, want);
	/* [DONE] without a finish_reason: the same. */
	check_stream(GW_API_OPENAI_CHAT, t, want);
	free(s);
	free(t);
}
END_TEST

START_TEST(openai_after_done_ignored)
{
	const char *s =
		"data: {\"choices\":[{\"delta\":{\"content\":\"a\"},"
		"\"finish_reason\":\"stop\"}]}\n\n"
		"data: [DONE]\n\n"
		"data: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n"
		"data: not json\n\n";

	check_stream(GW_API_OPENAI_CHAT, s, "text(a)\nstop(end)\n=> ok");
}
END_TEST

START_TEST(openai_in_stream_errors)
{
	const char *hi = "data: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n";
	char s[1024];

	snprintf(s, sizeof(s), "%sdata: {\"error\":{\"message\":\"Overloaded\","
	         "\"type\":\"overloaded_error\"}}\n\ndata: [DONE]\n\n", hi);
	check_stream(GW_API_OPENAI_CHAT, s, "text(Hi)\n=> retry: the provider "
	             "reported an error in the middle of the answer: Overloaded "
	             "(overloaded_error)");
	snprintf(s, sizeof(s), "%sdata: {\"error\":{\"message\":\"Your credit "
	         "balance is too low\",\"type\":\"insufficient_funds\"}}\n\n", hi);
	check_stream(GW_API_OPENAI_CHAT, s, "text(Hi)\n=> error: the provider "
	             "reported an error in the middle of the answer: Your credit "
	             "balance is too low (insufficient_funds)");
	check_stream(GW_API_OPENAI_CHAT, "data: {\"error\":\"upstream timeout\"}"
	             "\n\n", "=> retry: the provider reported an error in the "
	             "middle of the answer: upstream timeout");
	check_stream(GW_API_OPENAI_CHAT, "data: {\"error\":{\"message\":\"Bad "
	             "gateway\",\"code\":502}}\n\n", "=> retry: the provider "
	             "reported an error in the middle of the answer: Bad gateway "
	             "(502)");
	check_stream(GW_API_OPENAI_CHAT, "event: error\ndata: {\"message\":"
	             "\"Internal server error\",\"type\":\"server_error\"}\n\n",
	             "=> retry: the provider reported an error in the middle of "
	             "the answer: Internal server error (server_error)");
}
END_TEST

START_TEST(openai_bad_data)
{
	char s[256];

	check_stream(GW_API_OPENAI_CHAT, "data: <html>oops\n\n",
	             "=> error: the provider sent data that is not JSON: "
	             "<html>oops");
	check_stream(GW_API_OPENAI_CHAT, "data: [1,2]\n\n",
	             "=> error: the provider sent JSON that is not an object: "
	             "[1,2]");
	/* Long data is quoted to 80 bytes, never cutting a character. */
	memset(s, 0, sizeof(s));
	strcpy(s, "data: ");
	memset(s + 6, 'x', 79);
	strcat(s, "\xc3\xa9 and more\n\n");
	check_stream(GW_API_OPENAI_CHAT, s, "=> error: the provider sent data "
	             "that is not JSON: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...");
}
END_TEST

START_TEST(cancel_stops_and_sticks)
{
	struct flue_error err = {0};
	struct gw_decoder *d;
	struct run r;
	const char *chunk = "{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}";

	memset(&r, 0, sizeof(r));
	r.cancel_at = 2;
	ck_assert_int_eq(gw_decoder_new(GW_API_OPENAI_CHAT, record, &r, &d), 0);
	ck_assert_int_eq(gw_decoder_event(d, "message", chunk, strlen(chunk),
	                                  &err), 0);
	ck_assert_int_eq(gw_decoder_event(d, "message", chunk, strlen(chunk),
	                                  &err), FLUE_ECANCELED);
	ck_assert_str_eq(err.message, "the answer was canceled");
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(gw_decoder_event(d, "message", chunk, strlen(chunk),
	                                  &err), FLUE_ECANCELED);
	ck_assert_int_eq(err.code, FLUE_ECANCELED);
	ck_assert_int_eq(gw_decoder_finish(d, &err), FLUE_ECANCELED);
	ck_assert_int_eq(r.events, 2);
	ck_assert_int_eq(gw_decoder_started(d), 1);
	gw_decoder_free(d);
	run_free(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Anthropic streams                                                   */
/* ------------------------------------------------------------------ */

/* The recorded text-then-tool_use answer; with or without event: lines,
 * with ping and trailing spaces.  stop: end with message_stop. */
static char *
an_tool_stream(int named, int stop)
{
	struct text t = {0};
	char *out;

	an_event(&t, named, "message_start", "{`type`:`message_start`,`message`:"
	         "{`id`:`msg_01`,`type`:`message`,`role`:`assistant`,`model`:"
	         "`claude-sonnet-4-6`,`content`:[],`stop_reason`:null,"
	         "`stop_sequence`:null,`usage`:{`input_tokens`:502,"
	         "`cache_creation_input_tokens`:0,`cache_read_input_tokens`:0,"
	         "`output_tokens`:4}}}");
	an_event(&t, named, "content_block_start", "{`type`:"
	         "`content_block_start`,`index`:0,`content_block`:{`type`:`text`,"
	         "`text`:``}}");
	an_event(&t, named, "ping", "{`type`: `ping`}");
	an_event(&t, named, "content_block_delta", "{`type`:"
	         "`content_block_delta`,`index`:0,`delta`:{`type`:`text_delta`,"
	         "`text`:`I'll add them.`}}   ");
	an_event(&t, named, "content_block_stop", "{`type`:`content_block_stop`,"
	         "`index`:0}");
	an_event(&t, named, "content_block_start", "{`type`:"
	         "`content_block_start`,`index`:1,`content_block`:{`type`:"
	         "`tool_use`,`id`:`toolu_01`,`name`:`add`,`input`:{}}}");
	an_event(&t, named, "content_block_delta", "{`type`:"
	         "`content_block_delta`,`index`:1,`delta`:{`type`:"
	         "`input_json_delta`,`partial_json`:``}}");
	an_event(&t, named, "content_block_delta", "{`type`:"
	         "`content_block_delta`,`index`:1,`delta`:{`type`:"
	         "`input_json_delta`,`partial_json`:`{\\`a\\`: 2`}}");
	an_event(&t, named, "content_block_delta", "{`type`:"
	         "`content_block_delta`,`index`:1,`delta`:{`type`:"
	         "`input_json_delta`,`partial_json`:`, \\`b\\`: 3}`}}");
	an_event(&t, named, "content_block_stop", "{`type`:`content_block_stop`,"
	         "`index`:1}");
	an_event(&t, named, "message_delta", "{`type`:`message_delta`,`delta`:"
	         "{`stop_reason`:`tool_use`,`stop_sequence`:null},`usage`:"
	         "{`output_tokens`:137}}");
	if (stop)
		an_event(&t, named, "message_stop", "{`type`:`message_stop`}  ");
	out = dq(t.s);
	free(t.s);
	return out;
}

#define AN_TOOL_EVENTS \
	"text(I'll add them.)\n" \
	"start(0,toolu_01,add)\n" \
	"delta(0,{`a`: 2)\n" \
	"delta(0,, `b`: 3})\n" \
	"end(0)\n"

START_TEST(anthropic_text_then_tool_use)
{
	for (int named = 0; named <= 1; named++) {
		char *s = an_tool_stream(named, 1);

		check_stream(GW_API_ANTHROPIC_MESSAGES, s, AN_TOOL_EVENTS
		             "usage(in=502,out=137,cr=0,cw=0,r=0,cost=-1)\n"
		             "stop(tool_calls)\n"
		             "=> ok");
		free(s);
	}
}
END_TEST

START_TEST(anthropic_cut_short)
{
	char *s = an_tool_stream(1, 0);

	check_stream(GW_API_ANTHROPIC_MESSAGES, s, AN_TOOL_EVENTS
	             "=> retry: the stream ended before the answer was complete");
	free(s);
}
END_TEST

static char *
an_thinking_stream(void)
{
	struct text t = {0};
	char *out;

	an_event(&t, 1, "message_start", "{`type`:`message_start`,`message`:"
	         "{`id`:`msg_02`,`usage`:{`input_tokens`:10,"
	         "`cache_read_input_tokens`:2000,`cache_creation_input_tokens`:300,"
	         "`output_tokens`:1}}}");
	an_event(&t, 1, "content_block_start", "{`type`:`content_block_start`,"
	         "`index`:0,`content_block`:{`type`:`thinking`,`thinking`:``,"
	         "`signature`:``}}");
	an_event(&t, 1, "content_block_delta", "{`type`:`content_block_delta`,"
	         "`index`:0,`delta`:{`type`:`thinking_delta`,`thinking`:"
	         "`Let me think`}}");
	an_event(&t, 1, "content_block_delta", "{`type`:`content_block_delta`,"
	         "`index`:0,`delta`:{`type`:`thinking_delta`,`thinking`:"
	         "` about it.`}}");
	an_event(&t, 1, "content_block_delta", "{`type`:`content_block_delta`,"
	         "`index`:0,`delta`:{`type`:`signature_delta`,`signature`:"
	         "`EqQBCgIYAhIM`}}");
	an_event(&t, 1, "content_block_stop", "{`type`:`content_block_stop`,"
	         "`index`:0}");
	an_event(&t, 1, "content_block_start", "{`type`:`content_block_start`,"
	         "`index`:1,`content_block`:{`type`:`redacted_thinking`,`data`:"
	         "`EmwKAhgBEgy3`}}");
	an_event(&t, 1, "content_block_stop", "{`type`:`content_block_stop`,"
	         "`index`:1}");
	an_event(&t, 1, "content_block_start", "{`type`:`content_block_start`,"
	         "`index`:2,`content_block`:{`type`:`text`,`text`:``}}");
	an_event(&t, 1, "content_block_delta", "{`type`:`content_block_delta`,"
	         "`index`:2,`delta`:{`type`:`text_delta`,`text`:`4`}}");
	an_event(&t, 1, "content_block_stop", "{`type`:`content_block_stop`,"
	         "`index`:2}");
	an_event(&t, 1, "message_delta", "{`type`:`message_delta`,`delta`:"
	         "{`stop_reason`:`end_turn`},`usage`:{`output_tokens`:50}}");
	an_event(&t, 1, "message_stop", "{`type`:`message_stop`}");
	out = dq(t.s);
	free(t.s);
	return out;
}

#define AN_THINKING_OPAQUE \
	"{`api`:`anthropic-messages`,`thinking`:[{`type`:`thinking`," \
	"`thinking`:`Let me think about it.`,`signature`:`EqQBCgIYAhIM`}," \
	"{`type`:`redacted_thinking`,`data`:`EmwKAhgBEgy3`}]}"

START_TEST(anthropic_thinking_signed)
{
	char *s = an_thinking_stream();

	check_stream(GW_API_ANTHROPIC_MESSAGES, s,
	             "think(Let me think)\n"
	             "think( about it.)\n"
	             "text(4)\n"
	             "usage(in=10,out=50,cr=2000,cw=300,r=0,cost=-1)\n"
	             "opaque(" AN_THINKING_OPAQUE ")\n"
	             "stop(end)\n"
	             "=> ok");
	free(s);
}
END_TEST

START_TEST(anthropic_errors)
{
	const char *start = "event: message_start\ndata: {\"type\":"
	                    "\"message_start\",\"message\":{}}\n\n";
	char s[1024];

	snprintf(s, sizeof(s), "%sevent: error\ndata: {\"type\":\"error\","
	         "\"error\":{\"type\":\"overloaded_error\",\"message\":"
	         "\"Overloaded\"}}\n\n", start);
	check_stream(GW_API_ANTHROPIC_MESSAGES, s, "=> retry: the provider "
	             "reported an error in the middle of the answer: Overloaded "
	             "(overloaded_error)");
	/* Without an event: line the data says it is an error. */
	check_stream(GW_API_ANTHROPIC_MESSAGES, "data: {\"type\":\"error\","
	             "\"error\":{\"type\":\"api_error\",\"message\":\"Internal\"}}"
	             "\n\n", "=> retry: the provider reported an error in the "
	             "middle of the answer: Internal (api_error)");
	check_stream(GW_API_ANTHROPIC_MESSAGES, "event: error\ndata: {\"type\":"
	             "\"error\",\"error\":{\"type\":\"invalid_request_error\","
	             "\"message\":\"prompt is too long\"}}\n\n", "=> error: the "
	             "provider reported an error in the middle of the answer: "
	             "prompt is too long (invalid_request_error)");
	snprintf(s, sizeof(s), "%sevent: content_block_delta\ndata: {\"type\":"
	         "\"content_block_delta\",\"index\":5,\"delta\":{\"type\":"
	         "\"text_delta\",\"text\":\"x\"}}\n\n", start);
	check_stream(GW_API_ANTHROPIC_MESSAGES, s, "=> error: the provider sent "
	             "a delta for content block 5, which is not open");
	check_stream(GW_API_ANTHROPIC_MESSAGES, "event: message_start\n"
	             "data: {\"type\": nope}\n\n", "=> error: the provider sent "
	             "data that is not JSON: {\"type\": nope}");
	/* Event types this version does not know are skipped unread, and
	 * so is an OpenAI-style end from a proxy. */
	snprintf(s, sizeof(s), "event: future_thing\ndata: not json\n\n"
	         "%sdata: [DONE]\n\nevent: message_delta\ndata: {\"type\":\"message_delta\","
	         "\"delta\":{\"stop_reason\":\"pause_turn\"}}\n\n"
	         "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	         "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	         start);
	check_stream(GW_API_ANTHROPIC_MESSAGES, s, "stop(other)\n=> ok");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Request bodies                                                      */
/* ------------------------------------------------------------------ */

static json_object *
parse_dq(const char *json_dq)
{
	char *s = dq(json_dq);
	json_object *obj = json_tokener_parse(s);

	ck_assert_msg(obj != NULL, "test JSON does not parse: %s", s);
	free(s);
	return obj;
}

/* Build a body and compare it with want (` for "). */
static void
check_body(const struct gw_body_settings *settings, const char *request_dq,
           const char *want_dq)
{
	json_object *request = parse_dq(request_dq);
	struct flue_error err = {0};
	char *want = dq(want_dq), *body = NULL;
	size_t len = 0;

	ck_assert_msg(gw_body_build(settings, request, &body, &len, &err) == 0,
	              "%s", err.message);
	ck_assert_uint_eq(len, strlen(body));
	ck_assert_msg(strcmp(body, want) == 0, "got:\n%s\nwant:\n%s", body,
	              want);
	free(body);
	free(want);
	json_object_put(request);
}

START_TEST(openai_body)
{
	json_object *options = parse_dq("{`gateway`:{`order`:[`anthropic`]}}");
	struct gw_body_settings settings = {
		GW_API_OPENAI_CHAT, "anthropic/claude-sonnet-4.6", options, 0
	};

	check_body(&settings,
		"{`model`:`ignored`,`system`:`You are flue.`,`messages`:["
		"{`role`:`user`,`content`:`Sum 2 and 3`},"
		"{`type`:`compaction`,`summary`:`later versions`},"
		"{`role`:`assistant`,`content`:[{`type`:`thinking`,`text`:`hmm`},"
		"{`type`:`text`,`text`:`Let me `},{`type`:`text`,`text`:`add.`},"
		"{`type`:`tool_call`,`id`:`call_1`,`name`:`add`,`arguments`:"
		"{`a`:2,`b`:3}}],`stop_reason`:`tool_calls`,`provider_data`:"
		"{`api`:`openai-chat`,`reasoning`:`hmm`,`reasoning_details`:[{`type`:"
		"`reasoning.text`,`text`:`hmm`,`signature`:`sig`,`index`:0}]}},"
		"{`role`:`tool`,`tool_call_id`:`call_1`,`name`:`add`,`content`:`5`,"
		"`is_error`:false},"
		"{`role`:`assistant`,`content`:[{`type`:`text`,`text`:`It is 5.`}],"
		"`provider_data`:{`api`:`anthropic-messages`,`thinking`:[]}},"
		"{`role`:`assistant`,`content`:[{`type`:`tool_call`,`id`:`c2`,"
		"`name`:`now`,`arguments`:{}}]},"
		"{`role`:`tool`,`tool_call_id`:`c2`,`content`:`noon`,`is_error`:true},"
		"{`role`:`user`,`content`:`Thanks / ok`}],"
		"`tools`:[{`name`:`add`,`description`:`Adds`,`parameters`:{`type`:"
		"`object`,`properties`:{`a`:{`type`:`number`}}}},{`name`:`now`}],"
		"`thinking`:`high`,`max_tokens`:4096,`session_id`:`s-1`}",
		"{`model`:`anthropic/claude-sonnet-4.6`,`messages`:["
		"{`role`:`system`,`content`:`You are flue.`},"
		"{`role`:`user`,`content`:`Sum 2 and 3`},"
		"{`role`:`assistant`,`content`:`Let me add.`,`tool_calls`:[{`id`:"
		"`call_1`,`type`:`function`,`function`:{`name`:`add`,`arguments`:"
		"`{\\`a\\`:2,\\`b\\`:3}`}}],`reasoning`:`hmm`,`reasoning_details`:"
		"[{`type`:`reasoning.text`,`text`:`hmm`,`signature`:`sig`,`index`:0}]},"
		"{`role`:`tool`,`tool_call_id`:`call_1`,`content`:`5`},"
		"{`role`:`assistant`,`content`:`It is 5.`},"
		"{`role`:`assistant`,`content`:null,`tool_calls`:[{`id`:`c2`,`type`:"
		"`function`,`function`:{`name`:`now`,`arguments`:`{}`}}]},"
		"{`role`:`tool`,`tool_call_id`:`c2`,`content`:`noon`},"
		"{`role`:`user`,`content`:`Thanks / ok`}],"
		"`tools`:[{`type`:`function`,`function`:{`name`:`add`,`description`:"
		"`Adds`,`parameters`:{`type`:`object`,`properties`:{`a`:{`type`:"
		"`number`}}}}},{`type`:`function`,`function`:{`name`:`now`}}],"
		"`stream`:true,`stream_options`:{`include_usage`:true},"
		"`max_tokens`:4096,`reasoning`:{`effort`:`high`},"
		"`providerOptions`:{`gateway`:{`order`:[`anthropic`]}}}");
	json_object_put(options);
}
END_TEST

START_TEST(openai_body_minimal)
{
	struct gw_body_settings settings = {GW_API_OPENAI_CHAT, NULL, NULL, 512};

	/* The request's model when the settings have none; the settings'
	 * max_tokens wins; thinking off and no tools leave no trace; an
	 * empty assistant message still has content. */
	check_body(&settings,
		"{`model`:`llama3`,`system`:``,`messages`:[{`role`:`user`,"
		"`content`:`hi`},{`role`:`assistant`,`content`:[]}],`tools`:[],"
		"`thinking`:`off`,`max_tokens`:100}",
		"{`model`:`llama3`,`messages`:[{`role`:`user`,`content`:`hi`},"
		"{`role`:`assistant`,`content`:``}],`stream`:true,"
		"`stream_options`:{`include_usage`:true},`max_tokens`:512}");
}
END_TEST

START_TEST(anthropic_body_alternation)
{
	struct gw_body_settings settings = {
		GW_API_ANTHROPIC_MESSAGES, "claude-x", NULL, 0
	};

	check_body(&settings,
		"{`system`:`Be brief.`,`messages`:["
		"{`role`:`user`,`content`:`Read a and b`},"
		"{`role`:`user`,`content`:`Quickly.`},"
		"{`role`:`assistant`,`content`:[{`type`:`thinking`,`text`:"
		"`unsigned`},{`type`:`tool_call`,`id`:`c1`,`name`:`read`,"
		"`arguments`:{`path`:`a`}},{`type`:`text`,`text`:`Reading.`},"
		"{`type`:`text`,`text`:``},{`type`:`tool_call`,`id`:`c2`,"
		"`name`:`read`,`arguments`:{`path`:`b`}}],`provider_data`:{`api`:"
		"`anthropic-messages`,`thinking`:[{`type`:`thinking`,`thinking`:"
		"`plan`,`signature`:`S1`},{`type`:`redacted_thinking`,`data`:"
		"`R1`}]}},"
		"{`role`:`tool`,`tool_call_id`:`c1`,`content`:`A`,`is_error`:false},"
		"{`role`:`tool`,`tool_call_id`:`c2`,`content`:`no such file`,"
		"`is_error`:true},"
		"{`role`:`user`,`content`:`Now summarise.`},"
		"{`type`:`compaction`},"
		"{`role`:`assistant`,`content`:[{`type`:`text`,`text`:`Done.`}],"
		"`provider_data`:{`api`:`openai-chat`,`reasoning`:`r`}},"
		"{`role`:`user`,`content`:`Thanks`}],"
		"`tools`:[{`name`:`read`,`description`:`Reads a file`,`parameters`:"
		"{`type`:`object`}},{`name`:`now`}],`thinking`:`low`}",
		"{`model`:`claude-x`,`max_tokens`:8192,`system`:[{`type`:`text`,"
		"`text`:`Be brief.`,`cache_control`:{`type`:`ephemeral`}}],"
		"`messages`:["
		"{`role`:`user`,`content`:[{`type`:`text`,`text`:`Read a and b`},"
		"{`type`:`text`,`text`:`Quickly.`}]},"
		"{`role`:`assistant`,`content`:[{`type`:`thinking`,`thinking`:"
		"`plan`,`signature`:`S1`},{`type`:`redacted_thinking`,`data`:`R1`},"
		"{`type`:`text`,`text`:`Reading.`},{`type`:`tool_use`,`id`:`c1`,"
		"`name`:`read`,`input`:{`path`:`a`}},{`type`:`tool_use`,`id`:`c2`,"
		"`name`:`read`,`input`:{`path`:`b`}}]},"
		"{`role`:`user`,`content`:[{`type`:`tool_result`,`tool_use_id`:`c1`,"
		"`content`:`A`},{`type`:`tool_result`,`tool_use_id`:`c2`,`content`:"
		"`no such file`,`is_error`:true},{`type`:`text`,`text`:"
		"`Now summarise.`}]},"
		"{`role`:`assistant`,`content`:[{`type`:`text`,`text`:`Done.`}]},"
		"{`role`:`user`,`content`:[{`type`:`text`,`text`:`Thanks`}]}],"
		"`tools`:[{`name`:`read`,`description`:`Reads a file`,"
		"`input_schema`:{`type`:`object`}},{`name`:`now`,`input_schema`:"
		"{`type`:`object`,`properties`:{}}}],`stream`:true,"
		"`thinking`:{`type`:`enabled`,`budget_tokens`:2048}}");
}
END_TEST

START_TEST(anthropic_body_token_limits)
{
	struct gw_body_settings settings = {
		GW_API_ANTHROPIC_MESSAGES, "m", NULL, 4096
	};
	const char *tail = "`messages`:[{`role`:`user`,`content`:[{`type`:"
	                   "`text`,`text`:`x`}]}],`stream`:true";
	char want[512];

	/* The limit must exceed the budget: 16384 + 8192. */
	snprintf(want, sizeof(want), "{`model`:`m`,`max_tokens`:24576,%s,"
	         "`thinking`:{`type`:`enabled`,`budget_tokens`:16384}}", tail);
	check_body(&settings, "{`messages`:[{`role`:`user`,`content`:`x`}],"
	           "`thinking`:`high`}", want);
	/* Large enough already: kept. */
	settings.max_tokens = 0;
	snprintf(want, sizeof(want), "{`model`:`m`,`max_tokens`:64000,%s,"
	         "`thinking`:{`type`:`enabled`,`budget_tokens`:32768}}", tail);
	check_body(&settings, "{`messages`:[{`role`:`user`,`content`:`x`}],"
	           "`thinking`:`xhigh`,`max_tokens`:64000}", want);
	snprintf(want, sizeof(want), "{`model`:`m`,`max_tokens`:9216,%s,"
	         "`thinking`:{`type`:`enabled`,`budget_tokens`:1024}}", tail);
	check_body(&settings, "{`messages`:[{`role`:`user`,`content`:`x`}],"
	           "`thinking`:`minimal`,`max_tokens`:1000}", want);
	snprintf(want, sizeof(want), "{`model`:`m`,`max_tokens`:8192,%s}", tail);
	check_body(&settings, "{`messages`:[{`role`:`user`,`content`:`x`}],"
	           "`thinking`:null}", want);
}
END_TEST

/* The assistant message of a body, serialised. */
static char *
body_message(const char *body, size_t index)
{
	json_object *root = json_tokener_parse(body), *messages, *msg;
	char *out;

	ck_assert_ptr_nonnull(root);
	ck_assert(json_object_object_get_ex(root, "messages", &messages));
	msg = json_object_array_get_idx(messages, index);
	ck_assert_ptr_nonnull(msg);
	out = strdup(json_object_to_json_string_ext(msg,
	             JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(root);
	return out;
}

/* The next request carries the answer with provider_data as decoded. */
static char *
echo_body(enum gw_api api, const char *opaque, const char *content_dq)
{
	struct gw_body_settings settings = {api, "m", NULL, 0};
	json_object *request = parse_dq("{`messages`:[{`role`:`user`,"
	                                "`content`:`2+3?`}]}");
	json_object *messages, *msg = json_object_new_object();
	struct flue_error err = {0};
	char *body;
	size_t len;

	json_object_object_add(msg, "role", json_object_new_string("assistant"));
	json_object_object_add(msg, "content", parse_dq(content_dq));
	json_object_object_add(msg, "provider_data", json_tokener_parse(opaque));
	json_object_object_get_ex(request, "messages", &messages);
	json_object_array_add(messages, msg);
	json_object_array_add(messages, parse_dq("{`role`:`tool`,`tool_call_id`:"
	                      "`t1`,`content`:`5`}"));
	ck_assert_msg(gw_body_build(&settings, request, &body, &len, &err) == 0,
	              "%s", err.message);
	json_object_put(request);
	return body;
}

START_TEST(reasoning_echoed_back)
{
	struct text t = {0};
	char *s, *opaque, *body, *msg, *want;

	oa_chunk(&t, "{`reasoning`:`Adding.`,`reasoning_details`:[{`type`:"
	         "`reasoning.text`,`text`:`Adding.`,`signature`:``,`format`:"
	         "`anthropic-claude-v1`,`index`:0}]}", NULL, NULL);
	oa_chunk(&t, "{`reasoning_details`:[{`type`:`reasoning.text`,`text`:``,"
	         "`signature`:`EqUD`,`index`:0}]}", NULL, NULL);
	oa_chunk(&t, "{`tool_calls`:[{`index`:0,`id`:`t1`,`function`:{`name`:"
	         "`add`,`arguments`:`{}`}}]}", "`tool_calls`", NULL);
	oa_done(&t);
	s = dq(t.s);
	opaque = decode_opaque(GW_API_OPENAI_CHAT, s);
	body = echo_body(GW_API_OPENAI_CHAT, opaque, "[{`type`:`thinking`,"
	                 "`text`:`Adding.`},{`type`:`tool_call`,`id`:`t1`,"
	                 "`name`:`add`,`arguments`:{}}]");
	msg = body_message(body, 1);
	want = dq("{`role`:`assistant`,`content`:null,`tool_calls`:[{`id`:`t1`,"
	          "`type`:`function`,`function`:{`name`:`add`,`arguments`:`{}`}}],"
	          "`reasoning`:`Adding.`,`reasoning_details`:[{`type`:"
	          "`reasoning.text`,`text`:`Adding.`,`signature`:`EqUD`,`format`:"
	          "`anthropic-claude-v1`,`index`:0}]}");
	ck_assert_str_eq(msg, want);
	free(msg);
	free(want);
	free(body);
	/* The same history sent to Anthropic: not its data, not echoed. */
	body = echo_body(GW_API_ANTHROPIC_MESSAGES, opaque, "[{`type`:"
	                 "`thinking`,`text`:`Adding.`},{`type`:`tool_call`,`id`:"
	                 "`t1`,`name`:`add`,`arguments`:{}}]");
	msg = body_message(body, 1);
	want = dq("{`role`:`assistant`,`content`:[{`type`:`tool_use`,`id`:`t1`,"
	          "`name`:`add`,`input`:{}}]}");
	ck_assert_str_eq(msg, want);
	free(msg);
	free(want);
	free(body);
	free(opaque);
	free(s);
	free(t.s);
}
END_TEST

START_TEST(signature_echoed_back)
{
	char *s = an_thinking_stream(), *opaque, *body, *msg, *want;

	opaque = decode_opaque(GW_API_ANTHROPIC_MESSAGES, s);
	want = dq(AN_THINKING_OPAQUE);
	ck_assert_str_eq(opaque, want);
	free(want);
	body = echo_body(GW_API_ANTHROPIC_MESSAGES, opaque, "[{`type`:"
	                 "`thinking`,`text`:`Let me think about it.`},{`type`:"
	                 "`text`,`text`:`4`},{`type`:`tool_call`,`id`:`t1`,`name`:"
	                 "`add`,`arguments`:{`a`:1}}]");
	msg = body_message(body, 1);
	want = dq("{`role`:`assistant`,`content`:[{`type`:`thinking`,`thinking`:"
	          "`Let me think about it.`,`signature`:`EqQBCgIYAhIM`},{`type`:"
	          "`redacted_thinking`,`data`:`EmwKAhgBEgy3`},{`type`:`text`,"
	          "`text`:`4`},{`type`:`tool_use`,`id`:`t1`,`name`:`add`,`input`:"
	          "{`a`:1}}]}");
	ck_assert_str_eq(msg, want);
	free(msg);
	free(want);
	free(body);
	free(opaque);
	free(s);
}
END_TEST

/* Both protocols refuse the request with exactly this message. */
static void
check_body_error(const char *request_dq, const char *want)
{
	json_object *request = parse_dq(request_dq);

	for (int api = 0; api <= 1; api++) {
		struct gw_body_settings settings = {(enum gw_api)api, NULL, NULL, 0};
		struct flue_error err = {0};
		char *body = (char *)&err;
		size_t len = 7;

		ck_assert_int_eq(gw_body_build(&settings, request, &body, &len,
		                               &err), FLUE_EINVAL);
		ck_assert_int_eq(err.code, FLUE_EINVAL);
		ck_assert_str_eq(err.message, want);
		ck_assert_ptr_null(body);
		ck_assert_uint_eq(len, 0);
	}
	json_object_put(request);
}

START_TEST(body_field_errors)
{
	check_body_error("[]", "request: expected a JSON object");
	check_body_error("{`messages`:[]}",
	                 "model: expected the model id (a non-empty string)");
	check_body_error("{`model`:`m`}", "messages: expected a list of messages");
	check_body_error("{`model`:`m`,`messages`:{}}",
	                 "messages: expected a list of messages");
	check_body_error("{`model`:`m`,`messages`:[7]}",
	                 "messages[0]: expected an object");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`user`,`content`:"
	                 "[{`type`:`text`,`text`:`x`}]}]}",
	                 "messages[0].content: expected a string");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`user`,`content`:`a`},"
	                 "{`role`:`system`,`content`:`b`}]}",
	                 "messages[1].role: expected user, assistant or tool");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`user`,`content`:`a`},"
	                 "{`type`:`x`},{`role`:`user`,`content`:`b`},"
	                 "{`role`:`assistant`,`content`:`text`}]}",
	                 "messages[3].content: expected a list of blocks");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`assistant`,`content`:"
	                 "[{`type`:`text`,`text`:`a`},{`type`:`tool_call`,`id`:"
	                 "`c`,`name`:`n`,`arguments`:`{}`}]}]}",
	                 "messages[0].content[1].arguments: expected an object");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`assistant`,`content`:"
	                 "[{`type`:`tool_call`,`name`:`n`,`arguments`:{}}]}]}",
	                 "messages[0].content[0].id: expected a non-empty string");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`assistant`,`content`:"
	                 "[{`text`:`a`}]}]}",
	                 "messages[0].content[0]: expected a block with a "
	                 "\"type\"");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`assistant`,`content`:"
	                 "[{`type`:`text`,`text`:5}]}]}",
	                 "messages[0].content[0].text: expected a string");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`tool`,`content`:`x`}]}",
	                 "messages[0].tool_call_id: expected a non-empty string");
	check_body_error("{`model`:`m`,`messages`:[{`role`:`tool`,`tool_call_id`:"
	                 "`c`,`content`:`x`,`is_error`:`yes`}]}",
	                 "messages[0].is_error: expected true or false");
	check_body_error("{`model`:`m`,`messages`:[],`tools`:[{`description`:"
	                 "`d`}]}", "tools[0].name: expected a non-empty string");
	check_body_error("{`model`:`m`,`messages`:[],`tools`:[{`name`:`a`,"
	                 "`parameters`:[]}]}",
	                 "tools[0].parameters: expected a JSON Schema object");
	check_body_error("{`model`:`m`,`messages`:[],`tools`:{}}",
	                 "tools: expected a list of tool declarations");
	check_body_error("{`model`:`m`,`messages`:[],`thinking`:`extreme`}",
	                 "thinking: expected off, minimal, low, medium, high or "
	                 "xhigh");
	check_body_error("{`model`:`m`,`messages`:[],`max_tokens`:-5}",
	                 "max_tokens: expected a positive whole number");
	check_body_error("{`model`:`m`,`messages`:[],`system`:[`a`]}",
	                 "system: expected a string");
}
END_TEST

/* ------------------------------------------------------------------ */
/* Error bodies and names                                              */
/* ------------------------------------------------------------------ */

/* len SIZE_MAX: the whole string. */
static void
check_error_body(const char *body, size_t len, const char *want_message,
                 const char *want_type)
{
	char *message = (char *)body, *type = (char *)body;

	if (len == SIZE_MAX)
		len = strlen(body);

	ck_assert_int_eq(gw_error_body(body, len, &message, &type), 0);
	if (want_message == NULL)
		ck_assert_ptr_null(message);
	else
		ck_assert_str_eq(message, want_message);
	if (want_type == NULL)
		ck_assert_ptr_null(type);
	else
		ck_assert_str_eq(type, want_type);
	free(message);
	free(type);
}

START_TEST(error_bodies)
{
	const char *gateway = "{\"error\":{\"message\":\"Rate limited\",\"type\":"
	                      "\"rate_limit_exceeded\",\"param\":null,\"code\":"
	                      "null},\"generationId\":\"gen_1\"}";
	const char *anthropic = "{\"type\":\"error\",\"error\":{\"type\":"
	                        "\"overloaded_error\",\"message\":\"Overloaded\"}}";
	const char *cut = "{\"error\":\"x\"}garbage";

	check_error_body(gateway, strlen(gateway), "Rate limited",
	                 "rate_limit_exceeded");
	check_error_body(anthropic, strlen(anthropic), "Overloaded",
	                 "overloaded_error");
	check_error_body("{\"error\":\"model not found\"}", SIZE_MAX,
	                 "model not found", NULL);
	check_error_body("{\"error\":{\"code\":\"model_not_found\",\"message\":"
	                 "\"No such model\"}}\n", SIZE_MAX, "No such model",
	                 "model_not_found");
	check_error_body("<html>502 Bad Gateway</html>", SIZE_MAX, NULL, NULL);
	check_error_body("", 0, NULL, NULL);
	check_error_body("{\"error\":{}}", SIZE_MAX, NULL, NULL);
	check_error_body("{\"error\":[1]}", SIZE_MAX, NULL, NULL);
	check_error_body("\"just a string\"", SIZE_MAX, NULL, NULL);
	/* Only len bytes count. */
	check_error_body(cut, 13, "x", NULL);
	check_error_body(cut, strlen(cut), NULL, NULL);
}
END_TEST

START_TEST(api_names)
{
	enum gw_api api = GW_API_ANTHROPIC_MESSAGES;

	ck_assert_int_eq(gw_api_parse("openai-chat", &api), 0);
	ck_assert_int_eq(api, GW_API_OPENAI_CHAT);
	ck_assert_int_eq(gw_api_parse("anthropic-messages", &api), 0);
	ck_assert_int_eq(api, GW_API_ANTHROPIC_MESSAGES);
	ck_assert_int_eq(gw_api_parse("OpenAI", &api), -1);
	ck_assert_int_eq(gw_api_parse(NULL, &api), -1);
	ck_assert_int_eq(api, GW_API_ANTHROPIC_MESSAGES);
	ck_assert_str_eq(gw_api_name(GW_API_OPENAI_CHAT), "openai-chat");
	ck_assert_str_eq(gw_api_name(GW_API_ANTHROPIC_MESSAGES),
	                 "anthropic-messages");
	ck_assert_str_eq(gw_api_path(GW_API_OPENAI_CHAT), "/chat/completions");
	ck_assert_str_eq(gw_api_path(GW_API_ANTHROPIC_MESSAGES), "/messages");
	ck_assert_ptr_null(gw_api_name((enum gw_api)7));
}
END_TEST

static Suite *
codec_suite(void)
{
	Suite *s = suite_create("codec");
	TCase *openai = tcase_create("openai_stream");
	TCase *anthropic = tcase_create("anthropic_stream");
	TCase *bodies = tcase_create("bodies");
	TCase *misc = tcase_create("misc");

	tcase_add_test(openai, openai_text_then_tool_call);
	tcase_add_test(openai, openai_usage_in_own_chunk);
	tcase_add_test(openai, openai_parallel_calls_split_anywhere);
	tcase_add_test(openai, openai_one_piece_and_empty_args);
	tcase_add_test(openai, openai_calls_numbered_oddly);
	tcase_add_test(openai, openai_call_without_name);
	tcase_add_test(openai, openai_reasoning_with_signature);
	tcase_add_test(openai, openai_summary_and_encrypted_reasoning);
	tcase_add_test(openai, openai_framing_and_utf8);
	tcase_add_test(openai, openai_cut_short);
	tcase_add_test(openai, openai_after_done_ignored);
	tcase_add_test(openai, openai_in_stream_errors);
	tcase_add_test(openai, openai_bad_data);
	tcase_add_test(openai, cancel_stops_and_sticks);
	tcase_add_test(anthropic, anthropic_text_then_tool_use);
	tcase_add_test(anthropic, anthropic_cut_short);
	tcase_add_test(anthropic, anthropic_thinking_signed);
	tcase_add_test(anthropic, anthropic_errors);
	tcase_add_test(bodies, openai_body);
	tcase_add_test(bodies, openai_body_minimal);
	tcase_add_test(bodies, anthropic_body_alternation);
	tcase_add_test(bodies, anthropic_body_token_limits);
	tcase_add_test(bodies, reasoning_echoed_back);
	tcase_add_test(bodies, signature_echoed_back);
	tcase_add_test(bodies, body_field_errors);
	tcase_add_test(misc, error_bodies);
	tcase_add_test(misc, api_names);
	/* Every stream is decoded a hundred times and more, under
	 * sanitizers or valgrind. */
	tcase_set_timeout(openai, 120);
	tcase_set_timeout(anthropic, 120);
	suite_add_tcase(s, openai);
	suite_add_tcase(s, anthropic);
	suite_add_tcase(s, bodies);
	suite_add_tcase(s, misc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(codec_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
