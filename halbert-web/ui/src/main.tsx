// The dashboard's entry: the frame (App) with one folder per page under pages/.
import { render } from "preact";
import { App } from "./App";
import "./style.css";

const root = document.getElementById("app");
if (root) render(<App />, root);
