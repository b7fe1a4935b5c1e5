/**
 * The pure parts of Matrix media: mxc URIs, media event parsing, file names, message content, and
 * image sizes from PNG/GIF/JPEG/WebP headers. Total on any input (property tests).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { imageSize } from "../../src/matrix/image-size.js";
import {
  humanSize,
  mediaMessageContent,
  msgtypeForMime,
  parseMediaEvent,
  parseMxc,
  safeFileName,
} from "../../src/matrix/media-content.js";
import { pngOf } from "./media-rig.js";

describe("parseMxc", () => {
  it("accepts server names with ports and IP literals, refuses anything that could reach another path", () => {
    expect(parseMxc("mxc://example.org/AbC_9-x")).toEqual({ serverName: "example.org", mediaId: "AbC_9-x" });
    expect(parseMxc("mxc://localhost:8448/abc")).toEqual({ serverName: "localhost:8448", mediaId: "abc" });
    expect(parseMxc("mxc://[::1]:8448/abc")).toEqual({ serverName: "[::1]:8448", mediaId: "abc" });
    for (const bad of [
      "https://example.org/abc",
      "mxc://example.org/",
      "mxc://example.org/a/b",
      "mxc://example.org/../x",
      "mxc://example.org/abc?x=1",
      "mxc://exa mple.org/abc",
      "mxc:///abc",
      42,
      null,
    ])
      expect(parseMxc(bad)).toBeNull();
  });
});

describe("parseMediaEvent", () => {
  const url = "mxc://localhost/abc";
  it("reads name, type, declared size and caption", () => {
    const r = parseMediaEvent({
      msgtype: "m.image",
      body: "look",
      filename: "cat.PNG",
      url,
      info: { size: 10, mimetype: "Image/PNG" },
    });
    expect(r).toEqual({
      ok: true,
      media: {
        msgtype: "m.image",
        mxc: { serverName: "localhost", mediaId: "abc" },
        url,
        fileName: "cat.PNG",
        mimeType: "image/png",
        declaredSize: 10,
        caption: "look",
      },
    });
    // Without `info` (optional in the spec) and without a name: a name from the type.
    const bare = parseMediaEvent({ msgtype: "m.audio", url });
    expect(bare.ok && bare.media).toMatchObject({
      fileName: "audio",
      declaredSize: undefined,
      caption: undefined,
    });
    const typed = parseMediaEvent({ msgtype: "m.video", url, info: { mimetype: "video/mp4" } });
    expect(typed.ok && typed.media.fileName).toBe("video.mp4");
  });

  it("names what is wrong", () => {
    const problem = (c: unknown) => {
      const r = parseMediaEvent(c);
      return r.ok ? null : r.problem;
    };
    expect(problem(null)).toMatch(/no content/);
    expect(problem({ msgtype: "m.text", body: "x" })).toMatch(/not a media message/);
    expect(problem({ msgtype: "m.file" })).toMatch(/no file URL/);
    expect(problem({ msgtype: "m.file", url: "http://x/y" })).toMatch(/not a valid mxc/);
    expect(problem({ msgtype: "m.file", file: { url } })).toMatch(/encrypted/);
    expect(problem({ msgtype: "m.file", url, info: [] })).toMatch(/`info` is not an object/);
    expect(problem({ msgtype: "m.file", url, info: { size: -1 } })).toMatch(/`info.size`/);
    expect(problem({ msgtype: "m.file", url, info: { size: 1.5 } })).toMatch(/`info.size`/);
    expect(problem({ msgtype: "m.file", url, info: { mimetype: "no type" } })).toMatch(/`info.mimetype`/);
  });

  it("never throws, whatever the content", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.anything(),
          fc.record({
            msgtype: fc.constantFrom("m.file", "m.image", "m.video", "m.audio"),
            url: fc.oneof(fc.string(), fc.constant(url)),
            body: fc.anything(),
            filename: fc.anything(),
            info: fc.anything(),
          }),
        ),
        (content) => {
          const r = parseMediaEvent(content);
          if (r.ok) {
            expect(new TextEncoder().encode(r.media.fileName).length).toBeLessThanOrEqual(255);
            expect(r.media.fileName).not.toMatch(/[/\\]/);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe("file names, sizes and content", () => {
  it("safeFileName drops directories and control characters and keeps 255 bytes of UTF-8", () => {
    expect(safeFileName("../../etc/passwd")).toBe("passwd");
    expect(safeFileName("C:\\x\\y.txt")).toBe("y.txt");
    expect(safeFileName("a\u0000b\nc.txt")).toBe("abc.txt");
    expect(safeFileName("..")).toBe("file");
    expect(safeFileName("  ", "image")).toBe("image");
    const long = safeFileName("é".repeat(200));
    expect(new TextEncoder().encode(long).length).toBe(254);
  });

  it("humanSize and msgtypeForMime", () => {
    expect(humanSize(812)).toBe("812 bytes");
    expect(humanSize(150_000)).toBe("150 kB");
    expect(humanSize(1_500_000)).toBe("1.5 MB");
    expect(msgtypeForMime("image/webp")).toBe("m.image");
    expect(msgtypeForMime("VIDEO/mp4")).toBe("m.video");
    expect(msgtypeForMime("audio/ogg")).toBe("m.audio");
    expect(msgtypeForMime("application/pdf")).toBe("m.file");
  });

  it("mediaMessageContent puts w/h on images only", () => {
    const base = { url: "mxc://a/b", fileName: "x", size: 3 };
    expect(mediaMessageContent({ ...base, mimeType: "image/png", dimensions: { w: 2, h: 1 } })).toEqual({
      msgtype: "m.image",
      body: "x",
      filename: "x",
      url: "mxc://a/b",
      info: { mimetype: "image/png", size: 3, w: 2, h: 1 },
    });
    const file = mediaMessageContent({
      ...base,
      mimeType: "image/png",
      dimensions: { w: 2, h: 1 },
      msgtype: "m.file",
    });
    expect(file.info).toEqual({ mimetype: "image/png", size: 3 });
  });
});

describe("imageSize", () => {
  it("PNG", () => {
    expect(imageSize(pngOf(640, 480))).toEqual({ w: 640, h: 480 });
    expect(imageSize(pngOf(640, 480).subarray(0, 20))).toBeNull();
  });

  it("GIF", () => {
    const gif = Buffer.from("GIF89a\x20\x03\x58\x02\x00\x00\x00", "latin1");
    expect(imageSize(gif)).toEqual({ w: 800, h: 600 });
  });

  it("JPEG: skips APPn segments to the first start-of-frame, not DHT", () => {
    const app0 = [0xff, 0xe0, 0x00, 0x10, ...new Array(14).fill(0)];
    const dht = [0xff, 0xc4, 0x00, 0x04, 0x00, 0x00];
    const sof2 = [0xff, 0xc2, 0x00, 0x11, 0x08, 0x01, 0xe0, 0x02, 0x80, 0x03, ...new Array(9).fill(0)];
    const jpeg = Uint8Array.from([0xff, 0xd8, ...app0, ...dht, 0xff, ...sof2]);
    expect(imageSize(jpeg)).toEqual({ w: 640, h: 480 });
    expect(imageSize(Uint8Array.from([0xff, 0xd8, ...app0, 0xff, 0xda, 0, 2]))).toBeNull();
  });

  it("WebP: lossy, lossless and extended", () => {
    const riff = (chunk: string, payload: number[]) => {
      const b = Buffer.alloc(12 + 8 + payload.length);
      b.write("RIFF", 0, "ascii");
      b.writeUInt32LE(b.length - 8, 4);
      b.write("WEBP", 8, "ascii");
      b.write(chunk, 12, "ascii");
      b.writeUInt32LE(payload.length, 16);
      Buffer.from(payload).copy(b, 20);
      return b;
    };
    // VP8: frame tag (3), start code 9d 01 2a, width 400, height 300 (14 bits each, LE).
    expect(imageSize(riff("VP8 ", [0, 0, 0, 0x9d, 0x01, 0x2a, 0x90, 0x01, 0x2c, 0x01, 0, 0]))).toEqual({
      w: 400,
      h: 300,
    });
    // VP8L: 0x2f, then (w-1) | (h-1) << 14 in 28 bits LE: 100 x 50.
    const bits = 99 | (49 << 14);
    expect(
      imageSize(
        riff("VP8L", [0x2f, bits & 0xff, (bits >> 8) & 0xff, (bits >> 16) & 0xff, (bits >> 24) & 0xff, 0]),
      ),
    ).toEqual({ w: 100, h: 50 });
    // VP8X: flags (4), canvas width-1 and height-1 as 24-bit LE: 1920 x 1080.
    expect(imageSize(riff("VP8X", [0, 0, 0, 0, 0x7f, 0x07, 0, 0x37, 0x04, 0]))).toEqual({ w: 1920, h: 1080 });
  });

  it("never throws on arbitrary bytes, also behind a valid signature", () => {
    const sigs = [
      Uint8Array.from([0xff, 0xd8]),
      Buffer.from("GIF89a"),
      Buffer.from("RIFF\0\0\0\0WEBPVP8X"),
      Buffer.from("\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR", "latin1"),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...sigs), fc.uint8Array({ maxLength: 200 }), (sig, rest) => {
        const size = imageSize(Uint8Array.from([...sig, ...rest]));
        if (size !== null) expect(size.w > 0 && size.h > 0).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});
