// The dashboard's entry: one page today (pages/dashboard); later pages get a folder each.
import { render } from "preact";
import { Dashboard } from "./pages/dashboard/Dashboard";
import "./style.css";

const root = document.getElementById("app");
if (root) render(<Dashboard />, root);
