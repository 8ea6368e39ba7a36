// The shopwindow storefront: plain DOM and the gateway's public API, nothing else.
// Every value from the API goes into the page as text (textContent), never as markup:
// product data comes from producers we do not control.

const CARD = `id name brand category
  price { amount listAmount currency }
  stock { available status }`;

const view = document.getElementById("view");
const connection = document.getElementById("connection");

async function graphql(query, variables = {}) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/graphql-response+json" },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors && !body.data) throw new Error(body.errors[0].message);
  return body.data;
}

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) {
      node.append(child instanceof Node ? child : String(child));
    }
  }
  return node;
}

function money(price) {
  if (!price) return "not for sale";
  const amount = Number(price.amount).toFixed(2);
  return `${amount} ${price.currency}`;
}

function priceNode(price) {
  const node = el("span", { class: "price", "data-testid": "price" }, money(price));
  if (price && price.listAmount && price.listAmount !== price.amount) {
    node.append(el("span", { class: "list-price" }, Number(price.listAmount).toFixed(2)));
  }
  return node;
}

function stockText(stock) {
  const words = { IN_STOCK: "In stock", LOW_STOCK: "Low stock", OUT_OF_STOCK: "Out of stock" };
  return `${words[stock.status] || stock.status}: ${stock.available} available`;
}

function thumb(product) {
  // A colour from the id and the initial, so the page needs no image host.
  let hue = 0;
  for (const char of product.id) hue = (hue * 31 + char.charCodeAt(0)) % 360;
  const node = el("div", { class: "thumb" }, (product.name || "?").trim().charAt(0).toUpperCase());
  node.style.background = `hsl(${hue} 55% 55%)`;
  return node;
}

function card(product) {
  return el("a", { class: "card", href: `#/product/${encodeURIComponent(product.id)}`, "data-testid": "product-card" },
    thumb(product),
    el("div", { class: "name" }, product.name),
    el("div", { class: "brand" }, product.brand || ""),
    priceNode(product.price),
    el("div", { class: "muted" }, stockText(product.stock)));
}

function failure(error, show) {
  show(el("p", { class: "error", role: "alert" }, `Could not load: ${error.message}`));
}

// --- Live updates over graphql-transport-ws -------------------------------------------

class LiveClient {
  constructor(url) {
    this.url = url;
    this.next = 1;
    this.active = new Map(); // id -> {payload, onNext}
    this.socket = null;
    this.acknowledged = false;
    this.closed = false; // Whether a connection was lost since the last acknowledgement.
    this.retryMs = 500;
  }

  subscribe(query, variables, onNext) {
    const id = String(this.next++);
    this.active.set(id, { payload: { query, variables }, onNext });
    this.open();
    if (this.acknowledged) this.send({ id, type: "subscribe", payload: { query, variables } });
    this.show();
    return () => {
      this.active.delete(id);
      if (this.acknowledged) this.send({ id, type: "complete" });
      this.show();
    };
  }

  // The header says how live the page is only where something on it is live: a page
  // with no subscription has nothing to be offline about.
  show() {
    connection.hidden = this.active.size === 0;
    connection.textContent = this.acknowledged ? "live" : this.closed ? "reconnecting" : "connecting";
    connection.classList.toggle("live", this.acknowledged);
  }

  open() {
    if (this.socket) return;
    const socket = new WebSocket(this.url, "graphql-transport-ws");
    this.socket = socket;
    socket.onopen = () => this.send({ type: "connection_init", payload: {} });
    socket.onmessage = (event) => this.receive(JSON.parse(event.data));
    socket.onclose = () => {
      this.socket = null;
      this.acknowledged = false;
      this.closed = true;
      this.show();
      if (this.active.size) {
        setTimeout(() => this.open(), this.retryMs);
        this.retryMs = Math.min(this.retryMs * 2, 10000);
      }
    };
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  receive(message) {
    if (message.type === "connection_ack") {
      this.acknowledged = true;
      this.closed = false;
      this.retryMs = 500;
      this.show();
      for (const [id, { payload }] of this.active) this.send({ id, type: "subscribe", payload });
    } else if (message.type === "ping") {
      this.send({ type: "pong" });
    } else if (message.type === "next") {
      const subscription = this.active.get(message.id);
      if (subscription && message.payload.data) subscription.onNext(message.payload.data);
    } else if (message.type === "error" || message.type === "complete") {
      this.active.delete(message.id);
    }
  }
}

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const live = new LiveClient(`${scheme}//${location.host}/graphql`);
let leaving = [];

function onLeave(stop) {
  leaving.push(stop);
}

// --- Views -------------------------------------------------------------------------

async function home(show) {
  const data = await graphql(`{ trending(first: 8) { ${CARD} } }`);
  show(el("h1", {}, "Trending now"),
    el("section", { class: "shelf", "data-testid": "trending" }, data.trending.map(card)));
}

async function category(name, show) {
  const data = await graphql(
    `query Category($category: String!) {
      productsByCategory(category: $category, first: 24) { edges { node { ${CARD} } } }
    }`, { category: name });
  show(el("h1", {}, name),
    el("section", { class: "shelf" }, data.productsByCategory.edges.map((edge) => card(edge.node))));
}

function facetGroup(legend, name, values, selected) {
  return el("fieldset", {}, el("legend", {}, legend),
    values.map((value) => {
      const box = el("input", { type: "checkbox", name, value: String(value.value) });
      box.checked = selected.includes(String(value.value));
      box.addEventListener("change", () => {
        const params = new URLSearchParams(location.hash.split("?")[1] || "");
        const chosen = new Set(params.getAll(name));
        if (box.checked) chosen.add(box.value); else chosen.delete(box.value);
        params.delete(name);
        for (const item of chosen) params.append(name, item);
        location.hash = `#/search?${params}`;
      });
      return el("label", {}, box, ` ${value.label || value.value} (${value.count})`);
    }));
}

async function search(params, show) {
  const query = params.get("q") || null;
  const brands = params.getAll("brand");
  const categories = params.getAll("category");
  const filter = {};
  // Option facets are kept in the URL as o:<name>=<value>, one parameter per value.
  const options = new Map();
  for (const [key, value] of params) {
    if (!key.startsWith("o:")) continue;
    const name = key.slice(2);
    options.set(name, [...(options.get(name) || []), value]);
  }
  if (options.size) filter.options = [...options].map(([name, values]) => ({ name, values }));
  if (brands.length) filter.brands = brands;
  if (categories.length === 1) filter.category = categories[0];
  if (params.get("inStock") === "true") filter.inStock = true;
  document.getElementById("search-input").value = query || "";
  const data = await graphql(
    `query Search($query: String, $filter: ProductFilter) {
      search(query: $query, filter: $filter, first: 24) {
        totalCount
        edges { node { ${CARD} } }
        facets {
          brands { value count } categories { value count } inStock { value count }
          options { name values { value count } }
        }
      }
    }`, { query, filter });
  const result = data.search;
  const inStock = result.facets.inStock.filter((value) => value.value === true);
  show(el("h1", {}, query ? `Results for “${query}”` : "All products"),
    el("div", { class: "results" },
      el("aside", { class: "facets", "data-testid": "facets" },
        facetGroup("Brand", "brand", result.facets.brands, brands),
        facetGroup("Category", "category", result.facets.categories, categories),
        result.facets.options.map((option) =>
          facetGroup(option.name, `o:${option.name}`, option.values, options.get(option.name) || [])),
        facetGroup("Availability", "inStock", inStock.map((v) => ({ ...v, value: "true", label: "In stock" })),
          params.getAll("inStock"))),
      el("section", {},
        el("p", { class: "muted", "data-testid": "result-count" }, `${result.totalCount} ${result.totalCount === 1 ? "product" : "products"}`),
        el("div", { class: "shelf", "data-testid": "results" }, result.edges.map((e) => card(e.node))))));
}

const VARIANT = `sku title selectedOptions { name value }
  price { amount listAmount currency } stock { available status } availableForSale`;

// The variant whose options are all those chosen, if the product lists one.
function variantOf(variants, chosen) {
  return variants.find((variant) =>
    variant.selectedOptions.every((option) => chosen[option.name] === option.value)) || null;
}

// Option pickers: one group of buttons per option. A value that makes, with the other
// choices, a variant that is sold out is marked so; one that makes no variant at all
// is marked unavailable. `onPick` gets the new choices.
function pickers(options, variants, chosen, onPick) {
  return el("div", { class: "pickers", "data-testid": "pickers" },
    options.map((option) => el("fieldset", { class: "picker" },
      el("legend", {}, option.name),
      option.values.map((value) => {
        const variant = variantOf(variants, { ...chosen, [option.name]: value });
        const state = !variant ? "unavailable" : variant.availableForSale ? "available" : "sold-out";
        const button = el("button", {
          type: "button",
          class: `choice ${state}${chosen[option.name] === value ? " chosen" : ""}`,
          "aria-pressed": String(chosen[option.name] === value),
          title: { unavailable: "Not made in this combination", "sold-out": "Sold out", available: "" }[state],
          "data-testid": `choice-${option.name}-${value}`,
        }, value);
        button.addEventListener("click", () => onPick({ ...chosen, [option.name]: value }));
        return button;
      }))));
}

async function product(id, show) {
  const data = await graphql(
    `query Product($id: ID!) {
      product(id: $id) {
        ${CARD} description version attributes { name value } rating { average count }
        options { name values }
        variants(first: 250) { nodes { ${VARIANT} } }
        selectedOrFirstAvailableVariant { sku selectedOptions { name value } }
      }
    }`, { id });
  const item = data.product;
  if (!item) {
    show(el("p", { class: "error" }, "This product is not available."));
    return;
  }
  const variants = item.variants.nodes;
  const price = el("div", {}, priceNode(item.price));
  const stock = el("div", { class: `stock ${item.stock.status}`, "data-testid": "stock" }, stockText(item.stock));
  const picker = el("div", {});
  const flash = (node) => {
    node.classList.remove("flash");
    void node.offsetWidth; // Restart the animation.
    node.classList.add("flash");
  };
  const showStock = (next) => {
    stock.className = `stock ${next.status}`;
    stock.textContent = stockText(next);
  };
  show(el("article", { class: "product", "data-testid": "product" },
    thumb(item),
    el("div", {},
      el("div", { class: "brand" }, item.brand || ""),
      el("h1", { "data-testid": "product-name" }, item.name),
      price, stock, picker,
      el("p", {}, item.description),
      el("p", { class: "muted" }, item.rating.count
        ? `Rated ${item.rating.average.toFixed(1)} by ${item.rating.count}` : "No reviews yet"),
      el("ul", {}, item.attributes.map((a) => el("li", {}, `${a.name}: ${a.value}`))))));

  // Live updates of what the page shows: the chosen variant's, or the product's when it
  // has no options. Choosing another variant follows that one instead.
  let following = [];
  const follow = (sku) => {
    for (const stop of following) stop();
    following = [
      live.subscribe(
        "subscription Stock($id: ID!, $sku: String) { stockChanged(productId: $id, sku: $sku) { stock { available status } version } }",
        { id, sku },
        (update) => {
          const next = update.stockChanged.stock;
          const variant = variants.find((v) => v.sku === sku);
          if (variant) {
            variant.stock = next;
            variant.availableForSale = next.available > 0 && variant.price !== null;
          }
          showStock(next);
          flash(stock);
          if (item.options.length) drawPickers();
        }),
      live.subscribe(
        "subscription Price($id: ID!, $sku: String) { priceChanged(productId: $id, sku: $sku) { price { amount listAmount currency } version } }",
        { id, sku },
        (update) => {
          price.replaceChildren(priceNode(update.priceChanged.price));
          flash(price);
        }),
    ];
  };
  onLeave(() => { for (const stop of following) stop(); });

  if (!item.options.length) {
    follow(null);
    return;
  }
  const first = item.selectedOrFirstAvailableVariant;
  let chosen = Object.fromEntries((first ? first.selectedOptions : []).map((o) => [o.name, o.value]));
  const drawPickers = () => picker.replaceChildren(pickers(item.options, variants, chosen, choose));
  function choose(next) {
    chosen = next;
    const variant = variantOf(variants, chosen);
    drawPickers();
    if (!variant) {
      price.replaceChildren(el("span", { class: "price", "data-testid": "price" }, "not made in this combination"));
      stock.className = "stock OUT_OF_STOCK";
      stock.textContent = "Unavailable";
      for (const stop of following) stop();
      following = [];
      return;
    }
    price.replaceChildren(priceNode(variant.price));
    showStock(variant.stock);
    follow(variant.sku);
  }
  choose(chosen);
}

async function categories() {
  const data = await graphql(`{ search(first: 1) { facets { categories { value count } } } }`);
  document.getElementById("categories").replaceChildren(
    ...data.search.facets.categories.map((value) =>
      el("a", { href: `#/category/${encodeURIComponent(value.value)}` }, value.value)));
}

// Each route renders only while it is the newest: an older one that answers late (a
// search still loading when a product is picked) must not replace what came after it.
// The view is aria-busy while the newest route loads.
let routing = 0;

async function route() {
  for (const stop of leaving) stop();
  leaving = [];
  const generation = ++routing;
  const show = (...nodes) => {
    if (generation === routing) view.replaceChildren(...nodes);
  };
  view.setAttribute("aria-busy", "true");
  const [path, query] = location.hash.slice(1).split("?");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "product" && parts[1]) await product(parts[1], show);
    else if (parts[0] === "category" && parts[1]) await category(parts[1], show);
    else if (parts[0] === "search") await search(new URLSearchParams(query || ""), show);
    else await home(show);
  } catch (error) {
    failure(error, show);
  } finally {
    if (generation === routing) view.removeAttribute("aria-busy");
  }
}

document.getElementById("search").addEventListener("submit", (event) => {
  event.preventDefault();
  const q = document.getElementById("search-input").value.trim();
  location.hash = `#/search?${new URLSearchParams(q ? { q } : {})}`;
});
window.addEventListener("hashchange", route);
categories().catch(() => {});
route();
