import fs from 'node:fs/promises';
import path from 'node:path';
import { createTransport, type SendMailOptions, type Transporter } from 'nodemailer';
import { AppError, ERROR_CODES } from '../../kernel/errors.ts';
import { fileSafe, type CustomerEmail } from './domain/templates.ts';

/**
 * Where customer e-mails go: the outside party of the notifications context (like the payment
 * provider for payments). Two implementations, both nodemailer:
 * - the mail drop (default): each e-mail rendered to RFC 5322 text and written to
 *   `<dir>/<notification id>.eml`, atomically (a temp file, then a rename), so that an e-mail sent
 *   again after a crash replaces its file instead of adding a second one;
 * - SMTP (ORDERFLOW_SMTP_URL): handed to a mail server; its Message-ID, derived from the
 *   notification id, lets the mail system recognise a resend.
 * A failure is a retryable MAIL_DELIVERY_FAILED: the consumer tries again with backoff.
 */
export interface Mailer {
  /** A description for logs, e.g. `mail drop /srv/orderflow/data/mail`. */
  readonly description: string;
  send(email: CustomerEmail): Promise<void>;
  close(): void;
}

export const DEFAULT_FROM = 'Orderflow Marketplace <orders@orderflow.example>';

function mailOptions(email: CustomerEmail, from: string): SendMailOptions {
  return {
    from,
    to: email.to,
    subject: email.subject,
    text: email.text,
    html: email.html,
    messageId: email.messageId,
    date: new Date(email.date),
    // Chosen up front: nodemailer's own choice encodes each part twice to compare (a third of its time).
    textEncoding: 'quoted-printable',
    headers: { 'X-Orderflow-Notification-Id': email.notificationId, 'X-Orderflow-Template': email.template },
  };
}

function mailFailed(email: CustomerEmail, cause: unknown): AppError {
  return new AppError(
    ERROR_CODES.MAIL_DELIVERY_FAILED,
    `could not send the ${email.template} e-mail of order ${email.orderId}: ${cause instanceof Error ? cause.message : String(cause)}`,
    { cause },
  );
}

/** The file an e-mail is written to in the mail drop. */
export function mailDropFile(dir: string, notificationId: string): string {
  return path.join(dir, `${fileSafe(notificationId)}.eml`);
}

export function createMailDropMailer(options: { dir: string; from?: string }): Mailer {
  const { dir } = options;
  const from = options.from ?? DEFAULT_FROM;
  const transport = createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  let ready: Promise<unknown> | undefined;

  return {
    description: `mail drop ${dir}`,
    async send(email) {
      try {
        ready ??= fs.mkdir(dir, { recursive: true }).catch((error: unknown) => {
          ready = undefined;
          throw error;
        });
        await ready;
        const info = await transport.sendMail(mailOptions(email, from));
        const file = mailDropFile(dir, email.notificationId);
        // One writer per notification id at a time (its messages share a partition key); the pid keeps
        // two processes on one mail drop apart.
        const temp = `${file}.${process.pid}.tmp`;
        await fs.writeFile(temp, info.message as Buffer);
        try {
          await fs.rename(temp, file);
        } catch (error) {
          await fs.rm(temp, { force: true });
          throw error;
        }
      } catch (error) {
        throw mailFailed(email, error);
      }
    },
    close() {
      transport.close();
    },
  };
}

export function createSmtpMailer(options: { url: string; from?: string }): Mailer {
  const from = options.from ?? DEFAULT_FROM;
  const transport: Transporter = createTransport(options.url);
  return {
    // Host and port only: the URL may carry credentials.
    description: `SMTP ${new URL(options.url).host}`,
    async send(email) {
      try {
        await transport.sendMail(mailOptions(email, from));
      } catch (error) {
        throw mailFailed(email, error);
      }
    },
    close() {
      transport.close();
    },
  };
}
