// Types of the Chatvisor widget's page API (docs/widget-api.md).
//
// Copy this file into a TypeScript project (or reference it with
// /// <reference path="chatvisor.d.ts" />) to type window.Chatvisor,
// window.ChatvisorQueue and the chatvisor:ready event.

export {};

declare global {
  namespace Chatvisor {
    /** Who wrote a message. */
    interface Author {
      type: 'customer' | 'agent' | 'system';
      id?: string;
      name?: string;
    }

    /** A message of the visitor's chat (docs/chat-endpoints.md). */
    interface Message {
      id: string;
      conversation_id: string;
      seq: number;
      author: Author;
      text: string;
      created_at: string;
      client_msg_id?: string;
    }

    /** What identify() sends; every field is optional. */
    interface IdentifyFields {
      /** The integrator's customer id (as in PUT api/v1/customers); needs signature. */
      id?: string | number;
      /** Hex HMAC-SHA256 of the id under chatvisor_identity_secret, made by the backend. */
      signature?: string;
      email?: string | null;
      firstname?: string | null;
      lastname?: string | null;
      labels?: string[] | null;
    }

    /** identify()'s answer. */
    interface IdentifyResult {
      /** The integrator's id the visitor now has, or null. */
      id: string | null;
      /** The visitor became another customer (the widget shows that customer's chat). */
      moved: boolean;
    }

    /** What a refused identify() rejects with. */
    interface ApiError extends Error {
      /** HTTP status: 400, 403, 429; 0 when there was no answer. */
      status: number;
      /** invalid_request, invalid_json, bad_signature, identity_not_configured, forbidden, rate_limited */
      code: string;
    }

    interface Events {
      ready: (api: Api) => void;
      open: () => void;
      close: () => void;
      message: (message: Message) => void;
      unread: (count: number) => void;
    }

    type EventName = keyof Events;

    interface Api {
      open(): void;
      close(): void;
      toggle(): void;
      /** Hides the whole widget (launcher and panel). */
      hide(): void;
      show(): void;
      /** An agent was online when the page was served. */
      isAgentOnline(): boolean;
      /** The widget is shown (false after hide()). */
      shouldShowWebchat(): boolean;
      identify(fields: IdentifyFields): Promise<IdentifyResult>;
      on<E extends EventName>(event: E, fn: Events[E]): void;
      off<E extends EventName>(event: E, fn: Events[E]): void;
    }

    /** A queued call: the method's name, then its arguments. */
    type QueueItem =
      | ['open'] | ['close'] | ['toggle'] | ['hide'] | ['show']
      | ['identify', IdentifyFields]
      | { [E in EventName]: ['on' | 'off', E, Events[E]] }[EventName];

    /** Before load an array; after load push() calls at once. */
    interface Queue {
      push(...items: QueueItem[]): number;
    }
  }

  interface Window {
    /** Present once the widget has loaded. */
    Chatvisor?: Chatvisor.Api;
    ChatvisorQueue?: Chatvisor.QueueItem[] | Chatvisor.Queue;
  }

  interface WindowEventMap {
    'chatvisor:ready': CustomEvent<Chatvisor.Api>;
  }
}
