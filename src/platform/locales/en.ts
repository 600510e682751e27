/**
 * Every word a subscriber reads outside the mail templates, in English. A locale is this file's
 * twin (same keys, `Strings` checks it) beside a folder of mail templates: see locales/index.ts.
 * Placeholders are function parameters; the pages escape what these return.
 */
export const en = {
  /** The site named in mail and pages: "Example News at news.example.com", or its host alone. */
  siteLabel: (name: string | undefined, host: string) => (name ? `${name} at ${host}` : host),

  page: {
    listLabel: 'List',
    addressLabel: 'Address',
    typedAddressLabel: 'You typed',
    backToSite: (site: string) => `Back to ${site}`,
    thisList: 'this list',

    thanksTitle: 'Check your inbox',
    thanksBody:
      'If this address can be subscribed, a confirmation email is on its way. None is sent when the address is already subscribed, asked us not to write, or got one a few minutes ago.',
    thanksNext: (days: number) =>
      `Open the email and press its button to confirm. Check your inbox, and your spam folder, within ${days} days: after that the link expires.`,
    typoHint: 'A typo in the address? Go back and sign up again with the right one.',

    confirmTitle: 'Confirm your subscription',
    confirmBody: 'Press the button to confirm that you want to receive this list.',
    confirmListBody: (list: string) => `Press the button to confirm that you want to receive ${list}.`,
    confirmButton: 'Confirm my subscription',
    itWasMeTitle: 'This request was cancelled',
    itWasMeBody: (list: string) =>
      `Someone pressed “It was not me” in the email asking to confirm ${list}, so the request was cancelled and this address is not mailed. If it was you after all, press the button: you are subscribed, and this address can be mailed again.`,
    itWasMeButton: 'It was me — subscribe me',
    confirmedTitle: 'You are subscribed',
    confirmedBody: (list: string) => `Thank you: your subscription to ${list} is confirmed.`,
    alreadyConfirmedBody: (list: string) => `Your subscription to ${list} was already confirmed. Nothing else to do.`,
    confirmedNext: 'Every email we send you has a link to unsubscribe, so you can stop at any time.',
    expiredTitle: 'This link has expired',
    expiredBody: 'This confirmation link is no longer valid. Sign up again and we will send you a new one.',
    expiredElsewhereBody:
      'This confirmation link is no longer valid. Please sign up again where you first did, and we will send you a new one.',
    emailLabel: 'Email',
    signupAgainButton: 'Send me a new confirmation email',
    typoTitle: (suggestion: string) => `Did you mean ${suggestion}?`,
    typoBody: (typed: string) => `You typed ${typed}. That looks like a typo of a common email provider.`,
    typoUse: (suggestion: string) => `Use ${suggestion}`,
    typoKeep: (typed: string) => `Keep ${typed}`,

    errorTitle: 'Something is not right',
    errorCode: (code: string) => `Error code: ${code}`,
    back: 'Back',

    unsubscribeTitle: 'Unsubscribe',
    unsubscribeBody: (list: string) => `Press a button to stop receiving ${list} at this address, or every list we send.`,
    unsubscribeButton: (list: string) => `Unsubscribe from ${list}`,
    unsubscribeAllButton: 'Unsubscribe from all lists',
    unsubscribeAllHint: 'Or stop every email from us at this address:',
    notMeTitle: 'Not you?',
    notMeBody: (list: string) =>
      `Someone asked to receive ${list} at this address. If it was not you, press the button: the request is cancelled and this address will never be mailed again.`,
    notMeButton: 'It was not me: never mail this address',
    cancelledTitle: 'Request cancelled',
    cancelledBody: (list: string) =>
      `The request to receive ${list} is cancelled. This address will not receive any mail from us again, unless you sign up yourself.`,
    cancelledUndoButton: 'It was me after all: subscribe me',
    unsubscribedTitle: 'You are unsubscribed',
    unsubscribedBody: (list: string) => `This address will no longer receive ${list}.`,
    unsubscribedAllBody: 'This address will no longer receive any mail from us.',
    resubscribeHint: 'Pressed it by mistake?',
    resubscribeButton: 'I unsubscribed by mistake — resubscribe',
    resubscribedTitle: 'Welcome back',
    resubscribedBody: (list: string) => `Your subscription to ${list} is active again.`,
    resubscribedPendingBody: (list: string) =>
      `If this address can be subscribed, a new confirmation email for ${list} is on its way. Open it and press its button to confirm.`,
    resubscribedPendingNext: (days: number) => `Check your inbox, and your spam folder, within ${days} days.`,
  },

  /** The signup form snippet (GET /lists/:slug/form). */
  form: {
    emailLabel: 'Email',
    nameLabel: 'Name (optional)',
    honeypotLabel: 'Leave this field empty',
    submit: 'Subscribe',
  },

  /** The preference centre (GET /preferences) and its "Your data" section. */
  preferences: {
    title: 'Your subscriptions',
    intro: 'Tick the lists you want to receive and untick the others, then save. Nothing changes until you press the button.',
    listsLegend: 'Lists',
    stateLine: (state: string) => `Now: ${state}`,
    /** A moment of the consent trail, in UTC. */
    dateTime: (date: string, time: string) => `${date} ${time} UTC`,
    state: {
      confirmed: 'subscribed',
      pending: 'waiting for your confirmation',
      unsubscribed: 'unsubscribed',
      none: 'not subscribed',
    } as Record<string, string>,
    save: 'Save my choices',
    unsubscribeAllHint: 'Or stop every email from us at this address:',
    unsubscribeAll: 'Unsubscribe from everything',
    noLists: 'There is no list to show.',
    blockedTitle: 'This address cannot receive mail from us',
    blocked: {
      bounced:
        'Mail to this address bounced, so we stopped sending to it. This cannot be changed here: contact the site if the address works again.',
      complained:
        'A message to this address was reported as spam, so we stopped sending to it. This cannot be changed here: contact the site if that was a mistake.',
      manual: 'The site stopped mail to this address. This cannot be changed here: contact the site.',
      erased: 'The data of this address was erased. It will never be mailed again.',
      unsubscribed: 'You asked us not to write to this address.',
    } as Record<string, string>,
    blockedList: (list: string) => `${list}: blocked, see above.`,
    savedTitle: 'Your choices are saved',
    savedNothing: 'Nothing changed: your choices were already these.',
    subscribedTo: (lists: string) => `Subscribed now: ${lists}.`,
    unsubscribedFrom: (lists: string) => `Unsubscribed now: ${lists}.`,
    notChanged: (lists: string) => `Not changed, because this address is blocked: ${lists}.`,
    consentNeeded: (lists: string) => `Not joined: ${lists}. To join, tick the box of its consent statement too.`,
    notJoinedNow: (lists: string) =>
      `Not joined now: ${lists}. This link was used to join lists too often in a short time: please try again in an hour.`,
    unsubscribedAll: 'This address will no longer receive any mail from us.',
    backToPreferences: 'Back to your subscriptions',

    dataTitle: 'Your data',
    dataIntro: 'This is everything we keep about you.',
    nameLabel: 'Name',
    noName: 'none',
    trailTitle: 'What happened, and when',
    trailEmpty: 'Nothing recorded.',
    trailHeaders: { at: 'Date (UTC)', list: 'List', action: 'What happened', source: 'From' },
    action: {
      subscribe_requested: 'asked to subscribe',
      confirmed: 'confirmed',
      unsubscribed: 'unsubscribed',
      resubscribed: 'subscribed again',
      not_me: 'said it was not them',
      suppressed: 'blocked',
      suppression_lifted: 'unblocked',
      confirmation_expired: 'request expired',
      erased: 'erased',
      unsubscribe_reason: 'said why they left',
      data_exported: 'downloaded their data',
      identity_migrated: 'address spelling updated',
    } as Record<string, string>,
    everyList: 'every list',
    ipLabel: (ip: string) => `IP ${ip}`,
    useTitle: 'What we do with it',
    use: 'We use your address only to send the lists you chose, and your name only to greet you. We keep the record above as proof of your consent. We share none of it.',
    retention: (days: number) =>
      `Requests never confirmed are deleted after 7 days. Once you have left every list, we remove your name, language and where you signed up, and the IP addresses and browsers of the record, after ${days} days. We keep a fingerprint of your address forever, only so that we never write to you again.`,
    retentionNow:
      'Requests never confirmed are deleted after 7 days. Once you have left every list, we remove your name, language and where you signed up, and the IP addresses and browsers of the record, at once. We keep a fingerprint of your address forever, only so that we never write to you again.',
    minimizesOn: (date: string) => `You have left every list: these details will be removed on ${date}.`,
    minimized: 'You have left every list: we already removed what we did not need.',
    download: 'Download my data',
    eraseHint: 'Erase everything we keep about you. This cannot be undone.',
    erase: 'Erase everything',
    eraseTitle: 'Erase everything?',
    eraseBody:
      'We will delete your address, name, subscriptions and the record of your consent. Only a keyed fingerprint of the address stays, so that it is never mailed again, even if someone signs it up. This cannot be undone.',
    eraseConfirm: 'Yes, erase everything',
    erasedTitle: 'Your data is erased',
    erasedBody: 'We deleted everything about you. Only a fingerprint of your address stays, so that we never write to it again.',
    eraseByMail: 'To be sure it is you, we will email a link to this address: the erasure happens only from that link.',
    eraseSendLink: 'Email me the link',
    linkSentTitle: 'Check your inbox',
    linkSent: {
      erase: (address: string, minutes: number) =>
        `We sent a link to ${address}. It erases everything, once, within ${minutes} minutes. Nothing is erased until you follow it.`,
      export: (address: string, minutes: number) =>
        `We sent a link to ${address}. It downloads your data, once, within ${minutes} minutes.`,
    } as Record<string, (address: string, minutes: number) => string>,
    linkRefused: 'We do not send mail to this address any more, so we cannot send the link. Please write to the site to ask.',
    downloadTitle: 'Download your data',
    downloadBody:
      'The file holds everything we keep about you, with the IP addresses and browsers of the record in full. This link works once.',
  },

  /** The optional "why are you leaving?" form after an unsubscribe. */
  reasons: {
    legend: 'Would you tell us why? (optional)',
    choices: {
      too_many: 'Too many emails',
      not_relevant: 'Not relevant to me',
      never_signed_up: 'I never signed up',
      other: 'Other',
    } as Record<string, string>,
    commentLabel: 'Anything else? (optional, 500 characters at most)',
    submit: 'Send',
    thanksTitle: 'Thank you',
    thanksBody: 'Thank you for telling us. You are still unsubscribed; nothing else changes.',
  },

  /** The page for an error code (AppError.code); `fallback` for a code without a sentence here. */
  errors: {
    fallback: 'This request could not be completed. Please try again, or go back to the site you came from.',
    invalid_email: 'This email address does not look right. Check it for typos and try again.',
    missing_field: 'A required field of the form is empty. Fill it in and try again.',
    invalid_field: 'A field of the form holds something that cannot be used. Check it and try again.',
    field_too_long: 'A field of the form is too long. Shorten it and try again.',
    invalid_locale: 'The form asked for a language that is not a valid language code.',
    captcha_failed: 'The anti-bot check failed. Please try again.',
    captcha_unavailable: 'The anti-bot check is unavailable right now. Please try again in a moment.',
    rate_limited: 'Too many requests came from your network. Please wait a minute and try again.',
    link_rate_limited: 'This link was used too often in a short time. Please wait an hour and try again.',
    unknown_list: 'This list does not exist, or no longer takes signups.',
    missing_token: 'This link is incomplete. Open it again from the email, as it is.',
    invalid_token: 'This link is not valid. Open it again from the email, as it is.',
    expired_token: 'This link has expired. Sign up again to get a new one.',
    expired: 'This confirmation link has expired. Sign up again to get a new one.',
    cross_site: 'This request came from another site, so we did not act on it. Open the page from the link in your email and try again.',
    data_link_expired: 'This link has expired. Ask for a new one from your preferences page (the link in any of our emails).',
    data_link_used: 'This link has been used already. Ask for a new one from your preferences page if you need it.',
    disposable_address: 'This address is at a throwaway-inbox service. Please sign up with an address you keep.',
    address_typo: 'This address looks like a typo of a common email provider. Check it and try again.',
    undeliverable_domain: 'The domain of this address cannot receive email. Check it for typos and try again.',
    unknown_subscription: 'This subscription no longer exists: this address receives nothing from us.',
    subscription_closed: 'This request was cancelled. To receive the list, sign up again.',
    subscription_open: 'This request is still waiting for its confirmation: open the link from the email again and press its button.',
    address_blocked:
      'This address asked not to receive mail from us, so it cannot be confirmed or subscribed from here. To change that, contact the site.',
    not_found: 'This page does not exist.',
    invalid_path: 'This address is not valid: part of it is garbled. Open the link again as it was given to you.',
    internal_error: 'Something went wrong on our side. Please try again in a moment.',
    payload_too_large: 'The form sent too much data.',
    too_many_fields: 'The form sent too many fields.',
    invalid_body: 'The form could not be read.',
    request_aborted: 'The request was interrupted before it arrived. Please try again.',
    unsupported_media_type: 'The form was sent in a format this service does not read.',
    unsupported_encoding: 'The form was sent in an encoding this service does not read.',
    unsupported_charset: 'The form was sent in a character set this service does not read.',
    unknown_consent_version: 'This form is out of date. Reload the page and try again.',
    consent_required: 'Tick the box to agree before you subscribe.',
    invalid_consent_text: 'The consent statement is not valid.',
    invalid_reason: 'Choose one of the reasons offered.',
  },
};

export type Strings = typeof en;
export type ErrorCode = Exclude<keyof Strings['errors'], 'fallback'>;
