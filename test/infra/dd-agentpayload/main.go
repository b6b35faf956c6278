// Command dd-agentpayload decodes a Datadog trace intake request body (an AgentPayload, as POSTed to
// /api/v0.2/traces) with Datadog's own generated Go code (github.com/DataDog/datadog-agent/pkg/proto,
// package pbgo/trace, the types the Collector's datadogreceiver and Datadog's intake decode with) and
// prints it as JSON on stdout. Used by test/integration/export/datadog-agentless.test.ts.
//
//	dd-agentpayload [-gzip auto|yes|no] < body
//
// The body is gunzipped when -gzip says so, or, with auto (the default), when it starts with the gzip
// magic bytes. It is decoded twice, with the protobuf runtime (proto.Unmarshal, which also checks that
// strings are UTF-8) and with the vtproto unmarshaller the Agent uses, and both must agree. Every
// message's unknown fields (a field number pbgo/trace does not know: a wrong tag) are listed under
// "unknown_fields". 64-bit integers and times are printed as decimal strings, exactly. Bytes that do
// not decode: a message on stderr and exit status 1.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"

	"github.com/DataDog/datadog-agent/pkg/proto/pbgo/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

type agentPayloadJSON struct {
	HostName           string              `json:"host_name"`
	Env                string              `json:"env"`
	AgentVersion       string              `json:"agent_version"`
	TargetTPS          any                 `json:"target_tps"`
	ErrorTPS           any                 `json:"error_tps"`
	RareSamplerEnabled bool                `json:"rare_sampler_enabled"`
	Tags               map[string]string   `json:"tags"`
	TracerPayloads     []tracerPayloadJSON `json:"tracer_payloads"`
	IdxTracerPayloads  int                 `json:"idx_tracer_payloads"`
	UnknownFields      []unknownField      `json:"unknown_fields"`
	CompressedBytes    int                 `json:"compressed_bytes"`
	Bytes              int                 `json:"bytes"`
	Gzip               bool                `json:"gzip"`
}

type tracerPayloadJSON struct {
	ContainerID     string            `json:"container_id"`
	LanguageName    string            `json:"language_name"`
	LanguageVersion string            `json:"language_version"`
	TracerVersion   string            `json:"tracer_version"`
	RuntimeID       string            `json:"runtime_id"`
	Env             string            `json:"env"`
	Hostname        string            `json:"hostname"`
	AppVersion      string            `json:"app_version"`
	Tags            map[string]string `json:"tags"`
	Chunks          []chunkJSON       `json:"chunks"`
}

type chunkJSON struct {
	Priority     int32             `json:"priority"`
	Origin       string            `json:"origin"`
	DroppedTrace bool              `json:"dropped_trace"`
	Tags         map[string]string `json:"tags"`
	Spans        []spanJSON        `json:"spans"`
}

type spanJSON struct {
	Service        string            `json:"service"`
	Name           string            `json:"name"`
	Resource       string            `json:"resource"`
	TraceID        string            `json:"trace_id"`
	SpanID         string            `json:"span_id"`
	ParentID       string            `json:"parent_id"`
	Start          string            `json:"start"`
	Duration       string            `json:"duration"`
	Error          int32             `json:"error"`
	Meta           map[string]string `json:"meta"`
	Metrics        map[string]any    `json:"metrics"`
	Type           string            `json:"type"`
	MetaStructKeys []string          `json:"meta_struct_keys"`
	SpanLinks      []spanLinkJSON    `json:"span_links,omitempty"`
	SpanEvents     []spanEventJSON   `json:"span_events,omitempty"`
}

type spanLinkJSON struct {
	TraceID     string            `json:"trace_id"`
	TraceIDHigh string            `json:"trace_id_high"`
	SpanID      string            `json:"span_id"`
	Attributes  map[string]string `json:"attributes"`
	Tracestate  string            `json:"tracestate"`
	Flags       uint32            `json:"flags"`
}

type spanEventJSON struct {
	TimeUnixNano  string   `json:"time_unix_nano"`
	Name          string   `json:"name"`
	AttributeKeys []string `json:"attribute_keys"`
}

type unknownField struct {
	Path  string `json:"path"`
	Bytes int    `json:"bytes"`
}

func main() {
	mode := flag.String("gzip", "auto", "auto: gunzip when the body starts with the gzip magic; yes; no")
	flag.Parse()
	if err := run(*mode, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "dd-agentpayload: %v\n", err)
		os.Exit(1)
	}
}

func run(mode string, in io.Reader, out io.Writer) error {
	raw, err := io.ReadAll(in)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	gz := false
	switch mode {
	case "yes":
		gz = true
	case "no":
	case "auto":
		gz = len(raw) >= 2 && raw[0] == 0x1f && raw[1] == 0x8b
	default:
		return fmt.Errorf("-gzip must be auto, yes or no, not %q", mode)
	}
	body := raw
	if gz {
		r, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
		if body, err = io.ReadAll(r); err != nil {
			return fmt.Errorf("gzip: %w", err)
		}
	}
	if len(body) == 0 {
		return errors.New("empty body: no AgentPayload")
	}
	var p trace.AgentPayload
	if err := proto.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("proto.Unmarshal AgentPayload: %w", err)
	}
	var vt trace.AgentPayload
	if err := vt.UnmarshalVT(body); err != nil {
		return fmt.Errorf("UnmarshalVT AgentPayload: %w", err)
	}
	if !proto.Equal(&p, &vt) {
		return errors.New("proto.Unmarshal and UnmarshalVT decoded different AgentPayloads")
	}
	doc := agentPayloadJSON{
		HostName:           p.HostName,
		Env:                p.Env,
		AgentVersion:       p.AgentVersion,
		TargetTPS:          number(p.TargetTPS),
		ErrorTPS:           number(p.ErrorTPS),
		RareSamplerEnabled: p.RareSamplerEnabled,
		Tags:               orEmpty(p.Tags),
		TracerPayloads:     []tracerPayloadJSON{},
		IdxTracerPayloads:  len(p.IdxTracerPayloads),
		UnknownFields:      []unknownField{},
		CompressedBytes:    len(raw),
		Bytes:              len(body),
		Gzip:               gz,
	}
	unknown(p.ProtoReflect(), "AgentPayload", &doc.UnknownFields)
	for _, tp := range p.TracerPayloads {
		t := tracerPayloadJSON{
			ContainerID: tp.ContainerID, LanguageName: tp.LanguageName, LanguageVersion: tp.LanguageVersion,
			TracerVersion: tp.TracerVersion, RuntimeID: tp.RuntimeID, Env: tp.Env, Hostname: tp.Hostname,
			AppVersion: tp.AppVersion, Tags: orEmpty(tp.Tags), Chunks: []chunkJSON{},
		}
		for _, c := range tp.Chunks {
			cj := chunkJSON{Priority: c.Priority, Origin: c.Origin, DroppedTrace: c.DroppedTrace, Tags: orEmpty(c.Tags), Spans: []spanJSON{}}
			for _, s := range c.Spans {
				cj.Spans = append(cj.Spans, span(s))
			}
			t.Chunks = append(t.Chunks, cj)
		}
		doc.TracerPayloads = append(doc.TracerPayloads, t)
	}
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

func span(s *trace.Span) spanJSON {
	j := spanJSON{
		Service: s.Service, Name: s.Name, Resource: s.Resource,
		TraceID:  strconv.FormatUint(s.TraceID, 10),
		SpanID:   strconv.FormatUint(s.SpanID, 10),
		ParentID: strconv.FormatUint(s.ParentID, 10),
		Start:    strconv.FormatInt(s.Start, 10),
		Duration: strconv.FormatInt(s.Duration, 10),
		Error:    s.Error, Meta: orEmpty(s.Meta), Metrics: map[string]any{}, Type: s.Type,
		MetaStructKeys: []string{},
	}
	for k, v := range s.Metrics {
		j.Metrics[k] = number(v)
	}
	for k := range s.MetaStruct {
		j.MetaStructKeys = append(j.MetaStructKeys, k)
	}
	sort.Strings(j.MetaStructKeys)
	for _, l := range s.SpanLinks {
		j.SpanLinks = append(j.SpanLinks, spanLinkJSON{
			TraceID: strconv.FormatUint(l.TraceID, 10), TraceIDHigh: strconv.FormatUint(l.TraceIDHigh, 10),
			SpanID: strconv.FormatUint(l.SpanID, 10), Attributes: orEmpty(l.Attributes), Tracestate: l.Tracestate, Flags: l.Flags,
		})
	}
	for _, e := range s.SpanEvents {
		ev := spanEventJSON{TimeUnixNano: strconv.FormatUint(e.TimeUnixNano, 10), Name: e.Name, AttributeKeys: []string{}}
		for k := range e.Attributes {
			ev.AttributeKeys = append(ev.AttributeKeys, k)
		}
		sort.Strings(ev.AttributeKeys)
		j.SpanEvents = append(j.SpanEvents, ev)
	}
	return j
}

// number is a float64 as JSON: a number (Go prints the shortest text that reads back exactly), or
// "NaN", "+Inf", "-Inf", which JSON has no number for.
func number(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return v
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// unknown lists, depth first, every message holding bytes under a field number its type does not declare.
func unknown(m protoreflect.Message, path string, out *[]unknownField) {
	if u := m.GetUnknown(); len(u) > 0 {
		*out = append(*out, unknownField{Path: path, Bytes: len(u)})
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := path + "." + string(fd.Name())
		switch {
		case fd.IsList() && fd.Message() != nil:
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				unknown(l.Get(i).Message(), fmt.Sprintf("%s[%d]", name, i), out)
			}
		case fd.IsMap() && fd.MapValue().Message() != nil:
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				unknown(mv.Message(), fmt.Sprintf("%s[%s]", name, k.String()), out)
				return true
			})
		case !fd.IsList() && !fd.IsMap() && fd.Message() != nil:
			unknown(v.Message(), name, out)
		}
		return true
	})
}
