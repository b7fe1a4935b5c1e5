// Runs the real CLI from source (under tsx) the way bin/tox-bridge.js runs the built one.
import { main } from "../../src/cli.js";

process.exitCode = await main(process.argv.slice(2));
