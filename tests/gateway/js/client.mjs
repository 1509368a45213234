// Drives the official @google/genai SDK against the gateway; prints one JSON line per result.
// Usage: node client.mjs <baseUrl> <apiKey> <action> [arg]
import { GoogleGenAI } from "@google/genai";

const [baseUrl, apiKey, action, arg] = process.argv.slice(2);
const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl } });
const model = "gemini-2.5-flash";
const out = (value) => process.stdout.write(JSON.stringify(value) + "\n");

try {
  if (action === "generate") {
    const response = await ai.models.generateContent({ model, contents: arg ?? "hello" });
    out({ text: response.text });
  } else if (action === "stream") {
    const stream = await ai.models.generateContentStream({ model, contents: arg ?? "a b c" });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk.text ?? "");
    out({ chunks });
  } else if (action === "count") {
    const response = await ai.models.countTokens({ model, contents: arg ?? "a b c" });
    out({ totalTokens: response.totalTokens });
  } else if (action === "upload") {
    const file = await ai.files.upload({ file: arg, config: { mimeType: "text/plain" } });
    out({ name: file.name, sizeBytes: file.sizeBytes, state: file.state });
  } else if (action === "live") {
    const messages = [];
    let done;
    const finished = new Promise((resolve) => (done = resolve));
    const session = await ai.live.connect({
      model: arg ?? "gemini-live-2.5-flash",
      config: { responseModalities: ["TEXT"] },
      callbacks: {
        onmessage: (message) => {
          messages.push(message);
          if (message.serverContent?.turnComplete) done();
        },
        onerror: (error) => out({ error: String(error.message ?? error) }),
        onclose: (event) => done(),
      },
    });
    session.sendClientContent({ turns: [{ role: "user", parts: [{ text: "hello" }] }] });
    await finished;
    session.close();
    const text = messages
      .flatMap((m) => m.serverContent?.modelTurn?.parts ?? [])
      .map((p) => p.text ?? "")
      .join("");
    out({ text, messages: messages.length });
  } else {
    throw new Error(`unknown action ${action}`);
  }
} catch (error) {
  out({ error: String(error.message ?? error), status: error.status });
  process.exitCode = 3;
}
