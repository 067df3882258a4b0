// The simulated Messenger thread: polls the control API every second and renders the thread.
// Vanilla JS, DOM built with textContent only (message text is untrusted).
"use strict";
(function () {
  const thread = document.getElementById("thread");
  const quickReplies = document.getElementById("quick-replies");
  const banner = document.getElementById("banner");
  const input = document.getElementById("message-input");
  const base = "/_sim/people/" + encodeURIComponent(thread.dataset.psid);
  let lastJson = "";
  let reading = false;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "text") node.textContent = value;
      else if (key === "onclick") node.addEventListener("click", value);
      else node.setAttribute(key, value);
    }
    for (const child of children || []) if (child) node.appendChild(child);
    return node;
  }

  function showBanner(message) {
    banner.textContent = message || "";
    banner.hidden = !message;
  }

  async function act(action, body) {
    const response = await fetch(base + "/" + action, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body || {}),
    });
    if (!response.ok) showBanner((await response.json()).error.message);
    await refresh();
  }

  // A link button of a paid message: the tap opens the link and Meta reports it as a
  // marketing_message_clicks webhook (Send Messages on Marketing Message API, "Webhooks").
  function button(spec, item) {
    if (spec.type === "web_url") {
      const paidClick = item && item.sponsored ? () => act("click_paid", {message_id: item.mid}) : null;
      return el("a", {class: "button", href: spec.url, target: "_blank", rel: "noopener",
                      "data-testid": "url-button", text: spec.title, onclick: paidClick});
    }
    return el("button", {type: "button", class: "button", "data-testid": "postback-button",
                         "data-payload": spec.payload, text: spec.title,
                         onclick: () => act("tap", {payload: spec.payload, title: spec.title})});
  }

  function media(item) {
    const url = item.url;
    if (item.type === "image") return el("img", {src: url, alt: "image", "data-testid": "message-image"});
    if (item.type === "video") return el("video", {src: url, controls: "", "data-testid": "message-video"});
    if (item.type === "audio") return el("audio", {src: url, controls: "", "data-testid": "message-audio"});
    return el("a", {href: url, target: "_blank", rel: "noopener", "data-testid": "message-file", text: "File"});
  }

  function optinCard(item) {
    const optin = item.optin;
    const children = [
      optin.image_url ? el("img", {src: optin.image_url, alt: ""}) : null,
      el("div", {class: "card-title", "data-testid": "optin-title", text: optin.title}),
    ];
    if (optin.state === "pending") {
      children.push(el("button", {type: "button", class: "button primary", "data-testid": "optin-accept",
                                  text: optin.cta_label,
                                  onclick: () => act("accept_optin", {message_id: item.mid})}));
      children.push(el("button", {type: "button", class: "button", "data-testid": "optin-decline",
                                  text: "Not now",
                                  onclick: () => act("decline_optin", {message_id: item.mid})}));
    } else {
      const label = optin.state === "accepted" ? "You'll get messages about this" : "Declined";
      children.push(el("div", {class: "card-state", "data-testid": "optin-state", text: label}));
    }
    return el("div", {class: "card", "data-testid": "optin-card", "data-state": optin.state}, children);
  }

  function body(item) {
    if (item.direction === "user" || item.type === "text") return el("div", {class: "text", text: item.text});
    const buttonOf = (spec) => button(spec, item);
    if (item.type === "button") {
      return el("div", {class: "card"}, [el("div", {class: "text", text: item.text}), ...item.buttons.map(buttonOf)]);
    }
    if (item.type === "generic") {
      return el("div", {class: "carousel"}, item.elements.map((element) => el("div", {class: "card"}, [
        element.image_url ? el("img", {src: element.image_url, alt: ""}) : null,
        el("div", {class: "card-title", text: element.title}),
        element.subtitle ? el("div", {class: "card-subtitle", text: element.subtitle}) : null,
        ...element.buttons.map(buttonOf),
      ])));
    }
    if (item.type === "optin") return optinCard(item);
    if (item.buttons && item.buttons.length) {  // a media template: the media, then its buttons
      return el("div", {class: "card"}, [media(item), ...item.buttons.map(buttonOf)]);
    }
    return media(item);
  }

  // A paid marketing message is labelled "Sponsored". Meta's Marketing Message API pages do not
  // say how Messenger labels these messages; its Sponsored Messages page (Messenger Platform,
  // discovery/sponsored-messages) says paid messages sent outside the 24 h window "will be
  // labeled 'Sponsored' in the chat", so the simulator shows that label.
  function sponsored(item) {
    return item.sponsored ? el("small", {class: "sponsored", "data-testid": "sponsored", text: "Sponsored"}) : null;
  }

  // A new thread opens on the Page's welcome screen; with a Get Started button (Messenger Profile
  // API, get_started) the person taps it to start, and only then is the Page told.
  function welcome(person) {
    if (!person.get_started_button) return null;
    return el("div", {class: "card welcome", "data-testid": "welcome-screen"}, [
      el("div", {class: "card-title", text: person.page_name}),
      el("button", {type: "button", class: "button primary", "data-testid": "get-started",
                    text: "Get Started", onclick: () => act("get_started")}),
    ]);
  }

  function render(person) {
    document.getElementById("page-name").textContent = person.page_name;
    document.getElementById("person-name").textContent = person.name;
    thread.replaceChildren(...person.thread.map((item) => el("div", {
      class: "message " + item.direction, "data-testid": "thread-message", "data-mid": item.mid,
      "data-type": item.type, "data-direction": item.direction,
    }, [sponsored(item), body(item), item.status ? el("small", {class: "status", text: item.status}) : null])));
    const screen = welcome(person);
    if (screen) thread.appendChild(screen);
    document.getElementById("composer").hidden = Boolean(screen);
    const last = person.thread[person.thread.length - 1];
    const replies = last && last.direction === "page" ? last.quick_replies || [] : [];
    quickReplies.replaceChildren(...replies.map((reply) => el("button", {
      type: "button", class: "button", "data-testid": "quick-reply", "data-payload": reply.payload,
      text: reply.title || reply.content_type,
      onclick: () => act("tap", {payload: reply.payload, title: reply.title}),
    })));
    if (person.blocked) showBanner("You blocked " + person.page_name + ".");
    thread.scrollTop = thread.scrollHeight;
  }

  async function refresh() {
    const response = await fetch(base);
    if (!response.ok) return;
    const json = await response.text();
    if (json === lastJson) return;
    lastJson = json;
    const person = JSON.parse(json);
    render(person);
    // Opening the thread reads it, as in Messenger.
    const unread = person.thread.some((item) => item.direction === "page" && item.status !== "read");
    if (unread && !person.blocked && !reading && document.visibilityState === "visible") {
      reading = true;
      act("read").finally(() => { reading = false; });
    }
  }

  document.getElementById("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    showBanner("");
    act("send_text", {text});
  });
  for (const control of document.querySelectorAll("[data-action]")) {
    control.addEventListener("click", () => { showBanner(""); act(control.dataset.action, {}); });
  }
  refresh();
  setInterval(refresh, 1000);
})();
