// A test-only MCP server built with the TypeScript SDK the way its own examples build a stateful Streamable HTTP
// server with the Express helper (createMcpExpressApp + StreamableHTTPServerTransport, one transport per
// Mcp-Session-Id). Its tools never touch anything; each executed tools/call is appended as one JSON line
// {"tool","arguments","contentType","agent"} to the file named by AGOPS_MCP_CALLS. It listens on 127.0.0.1:$PORT.
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import * as z from 'zod/v4';

const callsFile = process.env.AGOPS_MCP_CALLS;
const port = Number(process.env.PORT);

function header(extra, name) {
  const v = extra?.requestInfo?.headers?.[name];
  return v === undefined ? '' : String(v);
}

function record(tool, args, extra) {
  const line = JSON.stringify({
    tool, arguments: args, contentType: header(extra, 'content-type'), agent: header(extra, 'x-agops-agent') || undefined,
  });
  if (callsFile) appendFileSync(callsFile, line + '\n');
}

function text(s) {
  return { content: [{ type: 'text', text: s }] };
}

function getServer() {
  const server = new McpServer({ name: 'agops-ts-sdk-server', version: '1.0.0' });
  server.registerTool('echo', { description: 'Returns the message', inputSchema: { message: z.string() } },
    async (args, extra) => { record('echo', args, extra); return text(args.message); });
  server.registerTool('add', { description: 'Returns a+b', inputSchema: { a: z.number(), b: z.number() } },
    async (args, extra) => { record('add', args, extra); return text(String(args.a + args.b)); });
  server.registerTool('read_file', { description: 'Pretends to read a file', inputSchema: { path: z.string() } },
    async (args, extra) => { record('read_file', args, extra); return text('would read ' + args.path); });
  server.registerTool('delete_all', { description: 'Pretends to delete everything', inputSchema: {} },
    async (args, extra) => { record('delete_all', args, extra); return text('deleted'); });
  server.registerTool('whoami', { description: 'Returns the X-Agops-Agent header', inputSchema: {} },
    async (args, extra) => { record('whoami', args, extra); return text(header(extra, 'x-agops-agent')); });
  return server;
}

const app = createMcpExpressApp();
const transports = new Map();

app.post('/mcp', async (req, res) => {
  try {
    const sessionId = req.headers['mcp-session-id'];
    let transport;
    if (sessionId && transports.has(sessionId)) {
      transport = transports.get(sessionId);
    } else if (!sessionId && isInitializeRequest(req.body)) {
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => { transports.set(sid, transport); },
      });
      transport.onclose = () => {
        if (transport.sessionId) transports.delete(transport.sessionId);
      };
      await getServer().connect(transport);
      await transport.handleRequest(req, res, req.body);
      return;
    } else if (sessionId) {
      res.status(404).json({ jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
      return;
    } else {
      res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
      return;
    }
    await transport.handleRequest(req, res, req.body);
  } catch (error) {
    console.error('Error handling MCP request:', error);
    if (!res.headersSent) {
      res.status(500).json({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal server error' }, id: null });
    }
  }
});

const sessionRequest = async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  if (!sessionId || !transports.has(sessionId)) {
    res.status(400).send('Invalid or missing session ID');
    return;
  }
  await transports.get(sessionId).handleRequest(req, res);
};
app.get('/mcp', sessionRequest);
app.delete('/mcp', sessionRequest);

app.listen(port, '127.0.0.1', (error) => {
  if (error) {
    console.error('Failed to start server:', error);
    process.exit(1);
  }
  console.log(`agops ts-sdk server listening on port ${port}`);
});
