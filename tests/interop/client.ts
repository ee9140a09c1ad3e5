// An MCP client built on the official TypeScript SDK (@modelcontextprotocol/sdk), for the interop
// suite. It connects over stdio or Streamable HTTP, runs the steps of a plan in order, and prints
// one JSON report on stdout. Node >= 22.18 runs it as it is (type stripping); its folder needs a
// node_modules holding the SDK (tests/interop/conftest.py links the one tools/ensure-interop.sh
// installed).
//
//     node client.ts PLAN.json
//
// PLAN: {"server": {"command": "...", "args": [...], "env": {...}} | {"url": "http://.../mcp"},
//        "roots": [{"uri": "file:///...", "name": "..."}],     (optional: declares the roots capability)
//        "elicit": ["accept" | "decline" | "cancel", ...],      (optional: declares elicitation;
//                                                                  the answers, in turn, the last one repeated)
//        "steps": [{"op": "listTools"} | {"op": "listResources"} | {"op": "listResourceTemplates"}
//                  | {"op": "listPrompts"} | {"op": "callTool", "name": "...", "arguments": {...}}
//                  | {"op": "readResource", "uri": "..."} | {"op": "getPrompt", "name": "...", "arguments": {...}}]}
// Report: {"server": {name, version}, "steps": [{"op", "result"} | {"op", "error"}], "questions": [...]}
// A failing step is reported and the next one runs; only a failure to connect exits non-zero.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ElicitRequestSchema, ListRootsRequestSchema } from "@modelcontextprotocol/sdk/types.js";

type Root = { uri: string; name?: string };
type Step =
  | { op: "listTools" | "listResources" | "listResourceTemplates" | "listPrompts" }
  | { op: "callTool"; name: string; arguments?: Record<string, unknown> }
  | { op: "readResource"; uri: string }
  | { op: "getPrompt"; name: string; arguments?: Record<string, string> };
type Plan = {
  server: { command?: string; args?: string[]; env?: Record<string, string>; url?: string };
  roots?: Root[];
  elicit?: ("accept" | "decline" | "cancel")[];
  steps: Step[];
};

function transportFor(server: Plan["server"]): Transport {
  if (server.url) {
    return new StreamableHTTPClientTransport(new URL(server.url));
  }
  if (!server.command) {
    throw new Error("plan.server needs a url or a command");
  }
  const env = { ...(process.env as Record<string, string>), ...(server.env ?? {}) };
  return new StdioClientTransport({ command: server.command, args: server.args ?? [], env, stderr: "inherit" });
}

function clientFor(plan: Plan, questions: string[]): Client {
  const capabilities: Record<string, object> = {};
  if (plan.roots) capabilities.roots = { listChanged: true };
  if (plan.elicit) capabilities.elicitation = { form: {} };
  const client = new Client({ name: "patchbay-interop-ts", version: "1.0.0" }, { capabilities });
  if (plan.roots) {
    const roots = plan.roots;
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots }));
  }
  if (plan.elicit) {
    const answers = plan.elicit;
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      const action = answers[Math.min(questions.length, answers.length - 1)];
      questions.push(request.params.message);
      if (action !== "accept") return { action };
      // Say yes to every yes/no the form asks (the connectors ask one: confirm).
      const schema = (request.params as { requestedSchema?: { properties?: Record<string, unknown> } }).requestedSchema;
      const content = Object.fromEntries(Object.keys(schema?.properties ?? {}).map((key) => [key, true]));
      return { action, content };
    });
  }
  return client;
}

async function run(client: Client, step: Step): Promise<unknown> {
  switch (step.op) {
    case "listTools":
      return client.listTools();
    case "listResources":
      return client.listResources();
    case "listResourceTemplates":
      return client.listResourceTemplates();
    case "listPrompts":
      return client.listPrompts();
    case "callTool":
      return client.callTool({ name: step.name, arguments: step.arguments ?? {} });
    case "readResource":
      return client.readResource({ uri: step.uri });
    case "getPrompt":
      return client.getPrompt({ name: step.name, arguments: step.arguments ?? {} });
  }
}

async function main(): Promise<void> {
  const path = process.argv[2];
  if (!path) {
    throw new Error("usage: node client.ts PLAN.json");
  }
  const plan = JSON.parse(readFileSync(path, "utf8")) as Plan;
  const questions: string[] = [];
  const client = clientFor(plan, questions);
  await client.connect(transportFor(plan.server));
  const steps: unknown[] = [];
  for (const step of plan.steps) {
    try {
      steps.push({ op: step.op, result: await run(client, step) });
    } catch (error) {
      steps.push({ op: step.op, error: error instanceof Error ? error.message : String(error) });
    }
  }
  const report = { server: client.getServerVersion(), capabilities: client.getServerCapabilities(), steps, questions };
  await client.close();
  process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((error) => {
  process.stderr.write(`client.ts: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
