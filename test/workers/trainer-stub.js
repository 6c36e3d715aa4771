// trainerStub: a declared test double for the trainer node, reached through the TRAINER service binding.
// It records every request and answers like the node would. Tests switch its behaviour with
// POST /__stub/mode {"mode": "ok" | "down" | "refuse" | "hang"} and read GET /__stub/requests.
let mode = "ok";
let requests = [];

function json(body, status = 200, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/__stub/mode") {
      mode = (await request.json()).mode;
      return json({ mode });
    }
    if (url.pathname === "/__stub/reset") {
      mode = "ok";
      requests = [];
      return json({ ok: true });
    }
    if (url.pathname === "/__stub/requests") return json(requests);

    const text = await request.text();
    requests.push({
      method: request.method,
      path: url.pathname + url.search,
      headers: Object.fromEntries(request.headers),
      body: text,
    });
    if (mode === "down") return json({ error: "overloaded" }, 503, { "retry-after": "7" });
    if (mode === "refuse") return json({ error: "bad job" }, 400);
    if (mode === "hang") await new Promise((resolve) => setTimeout(resolve, 10_000));

    if (url.pathname === "/v1/train") return json({ accepted: true }, 202);
    if (url.pathname.endsWith("/purge") || url.pathname.endsWith("/cancel"))
      return new Response(null, { status: 204 });
    if (url.pathname === "/v1/infer") {
      const plan = JSON.parse(text);
      if (plan.task.kind === "recognize") {
        return json({ results: plan.task.batch.map((_, i) => ({ p_yes: i % 2 === 0 ? 0.9 : 0.1 })) });
      }
      const names = plan.turns.flatMap((t) =>
        t.segments.filter((s) => s.type === "concept").map((s) => s.name),
      );
      const content = `stub answer about ${names.join(" and ") || "nothing"}`;
      if (plan.options.stream) {
        const chunks = content.split(" ").map((word) => ({
          object: "chat.completion.chunk",
          choices: [{ index: 0, delta: { content: `${word} ` } }],
        }));
        const body = `${chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`).join("")}data: [DONE]\n\n`;
        return new Response(body, { headers: { "content-type": "text/event-stream" } });
      }
      return json({
        id: `chatcmpl-${plan.request_id}`,
        object: "chat.completion",
        model: plan.base_model,
        choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
      });
    }
    return json({ error: "not found" }, 404);
  },
};
